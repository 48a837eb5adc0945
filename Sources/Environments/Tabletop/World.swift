import Foundation
import SeededRandom

/// The gripper: its tip (the bottom of the fingers) and how far its fingers are open.
struct Gripper {
    var position: Vec3
    /// 0 = closed … 1 = fully open.
    var opening: Float = 1

    /// Half the distance between the fingers' inner faces.
    var halfGap: Float { 0.008 + 0.032 * opening }

    static let fingerLength: Float = 0.06
    /// The gripper's footprint for collisions (fingers and palm as one vertical probe).
    static let radius: Float = 0.012
    static let height: Float = 0.09
    /// Metres per step at full action.
    static let speed: Float = 0.02
    /// Opening change per step at full action.
    static let gripSpeed: Float = 0.25
    static let workspaceMin = Vec3(-0.42, -0.30, 0.0)
    static let workspaceMax = Vec3(0.42, 0.50, 0.40)

    /// Drawn as an arm from above, a palm and two fingers whose gap shows the opening.
    func primitives() -> [Primitive] {
        let p = position
        let palmZ = p.z + Gripper.fingerLength + 0.012
        var out: [Primitive] = [
            .box(Box(center: Vec3(p.x, p.y, palmZ + 0.13), half: Vec3(0.012, 0.012, 0.13), color: Palette.arm)),
            .box(Box(center: Vec3(p.x, p.y, palmZ), half: Vec3(0.05, 0.016, 0.012), color: Palette.gripper)),
        ]
        for side: Float in [-1, 1] {
            let x = p.x + side * (halfGap + 0.006)
            out.append(.box(Box(center: Vec3(x, p.y, p.z + Gripper.fingerLength / 2), half: Vec3(0.006, 0.013, Gripper.fingerLength / 2),
                                color: Palette.gripper)))
        }
        return out
    }
}

/// A cube that can be grasped, carried and dropped; it falls onto the table or whatever
/// support the task offers below it.
struct GraspableBlock {
    var position: Vec3
    var half: Float = 0.022
    var isHeld = false
    var color = Palette.red

    var box: Box { Box(center: position, half: Vec3(repeating: half), color: color) }

    /// Grasps when the fingers close around the block; carries it while held; drops it when the
    /// fingers open. `support(x, y)` is the height the block rests on there.
    mutating func interact(gripper: inout Gripper, previous: Gripper, support: (Float, Float) -> Float) {
        let tip = gripper.position
        if isHeld {
            if gripper.opening > previous.opening + 1e-4 {
                isHeld = false
                position.z = support(position.x, position.y) + half
            } else {
                // The block sits between the fingers, its bottom at the finger tips.
                position = Vec3(tip.x, tip.y, tip.z + half)
                gripper.opening = max(gripper.opening, openingHolding)
            }
            return
        }
        let aligned = abs(tip.x - position.x) < 0.018 && abs(tip.y - position.y) < 0.018
            && tip.z <= position.z - half + 0.02
        if aligned && gripper.opening <= openingHolding + 0.02 && gripper.opening < previous.opening {
            isHeld = true
            gripper.opening = max(gripper.opening, openingHolding)
            position = Vec3(tip.x, tip.y, tip.z + half)
        }
    }

    /// The opening at which the fingers touch the block.
    var openingHolding: Float { (half - 0.008) / 0.032 }
}

/// Moves the gripper by an action, axis by axis, refusing moves into solid fixtures.
func moveGripper(_ gripper: inout Gripper, action: [Float], solids: [Box]) {
    let target = Gripper.speed * Vec3(action[0], action[1], action[2])
    func overlapping(_ p: Vec3) -> [Box] {
        solids.filter { $0.overlaps(x: p.x, y: p.y, z0: p.z, z1: p.z + Gripper.height, radius: Gripper.radius) }
    }
    // A fixture that moved onto the gripper (a door swinging) must not trap it: it may move out.
    let trapped = !overlapping(gripper.position).isEmpty
    for axis in 0..<3 {
        var proposal = gripper.position
        proposal[axis] = min(max(proposal[axis] + target[axis], Gripper.workspaceMin[axis]), Gripper.workspaceMax[axis])
        let hits = trapped ? [] : overlapping(proposal)
        if hits.isEmpty {
            gripper.position = proposal
        } else if axis == 2 && target.z < 0 {
            // Coming down onto something: stop on its top instead of hovering a step above it.
            let top = hits.map { $0.center.z + $0.half.z }.max() ?? gripper.position.z
            if top < gripper.position.z { gripper.position.z = top }
        }
    }
    // The grip action sets a target opening: −1 closed, +1 open.
    let targetOpening = (action[3] + 1) / 2
    let delta = min(max(targetOpening - gripper.opening, -Gripper.gripSpeed), Gripper.gripSpeed)
    gripper.opening = min(max(gripper.opening + delta, 0), 1)
}

/// The table, drawn under everything.
let tableTop = Box(center: Vec3(0, 0.1, -0.03), half: Vec3(0.7, 0.55, 0.03), color: Palette.table)

/// A dark disc under an object, so height reads in every view.
func shadow(x: Float, y: Float, radius: Float, height: Float) -> Primitive {
    let darkening = max(0.55, 0.78 - 0.6 * (0.3 - min(height, 0.3)))
    return .marker(Marker(center: Vec3(x, y, 0.0008), radius: radius * (1 + height), color: Palette.table * darkening))
}

extension SeededRNG {
    /// Uniform in [low, high).
    mutating func float(_ low: Float, _ high: Float) -> Float { low + (high - low) * uniform() }
}

/// Drives the tip towards `target` at full speed, slowing near it: the experts' basic move.
func moveTowards(_ target: Vec3, from position: Vec3, grip: Float) -> [Float] {
    let delta = (target - position) / Gripper.speed
    return [min(max(delta.x, -1), 1), min(max(delta.y, -1), 1), min(max(delta.z, -1), 1), grip]
}

/// A task of the built-in suite: its objects, their physics, success and scripted expert.
protocol TabletopTask: SendableMetatype {
    static var info: TaskInfo { get }
    init(rng: inout SeededRNG)
    var gripperStart: Vec3 { get }
    /// Fixtures the gripper cannot enter.
    var solids: [Box] { get }
    /// Updates objects after the gripper moved from `previous` to `gripper` (and may push back).
    mutating func interact(gripper: inout Gripper, previous: Gripper)
    var isSuccess: Bool { get }
    /// What to draw besides the table and the gripper.
    var primitives: [Primitive] { get }
    /// The scripted expert's action. `slack` (metres) loosens how precisely it lines the gripper
    /// up before it descends (0: the demonstrations' precision).
    func expertAction(gripper: Gripper, slack: Float) -> [Float]
    /// ``TabletopLandmarks/count`` points of the scene (metres): where the hand must make contact,
    /// where that thing must go, and a third point the task turns on. Training targets only.
    var landmarks: [Vec3] { get }
    /// Metres still missing to success while it has not succeeded (see ``Demonstrator/shortfall()``).
    var shortfall: Float { get }
}

/// The scene's landmarks as the demonstrator hands them out: the same number for every task, so a
/// network can learn them all with one head.
enum TabletopLandmarks {
    static let count = 3
}
