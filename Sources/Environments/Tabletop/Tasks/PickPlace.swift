import Foundation
import SeededRandom

/// Pick a block up and put it on the green square (MetaWorld's pick-place family).
///
/// Success: the block rests on the table within 3 cm of the square's centre, released.
/// Starting state: block and square at random places at least 12 cm apart.
struct PickPlace: TabletopTask {
    static let info = TaskInfo(name: "pick-place", instruction: "put the red block on the green square", isHard: true)
    var block: GraspableBlock
    let target: SIMD2<Float>
    let gripperStart: Vec3

    init(rng: inout SeededRNG) {
        let start = SIMD2(rng.float(-0.22, 0.22), rng.float(-0.02, 0.28))
        var t: SIMD2<Float>
        repeat {
            t = SIMD2(rng.float(-0.25, 0.25), rng.float(-0.02, 0.32))
        } while ((t - start) * (t - start)).sum() < 0.12 * 0.12
        target = t
        block = GraspableBlock(position: Vec3(start.x, start.y, 0.022))
        gripperStart = Vec3(rng.float(-0.1, 0.1), rng.float(-0.2, -0.1), rng.float(0.18, 0.26))
    }

    var solids: [Box] { [] }

    mutating func interact(gripper: inout Gripper, previous: Gripper) {
        block.interact(gripper: &gripper, previous: previous) { _, _ in 0 }
    }

    var isSuccess: Bool {
        let d = SIMD2(block.position.x, block.position.y) - target
        return !block.isHeld && (d * d).sum() < 0.03 * 0.03 && block.position.z < block.half + 0.005
    }

    /// The block's distance from where it rests when placed (success: released within 3 cm of it).
    var shortfall: Float { length(block.position - placed) }
    private var placed: Vec3 { Vec3(target.x, target.y, block.half) }

    /// The block, the square (the block's centre when placed), the block's resting place on it.
    var landmarks: [Vec3] {
        [block.position, placed, Vec3(target.x, target.y, 0)]
    }

    var primitives: [Primitive] {
        [.marker(Marker(center: Vec3(target.x, target.y, 0.001), radius: 0.035, color: Palette.green, square: true)),
         shadow(x: block.position.x, y: block.position.y, radius: 0.025, height: block.position.z - block.half),
         .box(block.box)]
    }

    func expertAction(gripper: Gripper, slack: Float) -> [Float] {
        carry(block, to: Vec3(target.x, target.y, 0), gripper: gripper, slack: slack) ?? [0, 0, 1, 1]
    }
}

/// The expert's pick-and-place: approach open, descend, close, lift, carry above `goal`, lower
/// until the block's bottom is just above `goal.z`, open. Nil once the block has been let go at
/// the goal.
func carry(_ block: GraspableBlock, to goal: Vec3, gripper: Gripper, travelHeight: Float = 0.13, slack: Float = 0) -> [Float]? {
    let tip = gripper.position
    let blockXY = SIMD2(block.position.x, block.position.y), goalXY = SIMD2(goal.x, goal.y)
    if block.isHeld {
        let offset = blockXY - goalXY
        if (offset * offset).sum() > (0.004 + slack) * (0.004 + slack) {
            if tip.z < travelHeight - 0.01 { return moveTowards(Vec3(tip.x, tip.y, travelHeight), from: tip, grip: -1) }
            return moveTowards(Vec3(goal.x, goal.y, travelHeight), from: tip, grip: -1)
        }
        if tip.z > goal.z + 0.006 { return moveTowards(Vec3(goal.x, goal.y, goal.z + 0.004), from: tip, grip: -1) }
        return [0, 0, 0, 1]  // let go
    }
    let resting = ((blockXY - goalXY) * (blockXY - goalXY)).sum() < 0.02 * 0.02 && block.position.z < goal.z + block.half + 0.01
    if resting { return nil }
    let aligned = abs(tip.x - block.position.x) < 0.004 + slack && abs(tip.y - block.position.y) < 0.004 + slack
    let bottom = block.position.z - block.half
    if !aligned {
        if tip.z < bottom + 2 * block.half + 0.03 {
            return moveTowards(Vec3(tip.x, tip.y, bottom + 2 * block.half + 0.06), from: tip, grip: 1)
        }
        return moveTowards(Vec3(block.position.x, block.position.y, max(tip.z, bottom + 0.09)), from: tip, grip: 1)
    }
    if gripper.opening < 0.95 && tip.z > bottom + 0.01 { return [0, 0, 0, 1] }  // open fully before going down
    if tip.z > bottom + 0.006 { return moveTowards(Vec3(block.position.x, block.position.y, bottom + 0.003), from: tip, grip: 1) }
    return [0, 0, 0, -1]  // close on it
}
