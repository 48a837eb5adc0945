import Foundation
import SeededRandom

/// Open the drawer, then put the block inside it: a two-stage task (hard).
///
/// Success: the block rests inside the drawer, released. Starting state: cabinet at the back,
/// drawer closed, block on the table beside the drawer's path.
struct PutInDrawer: TabletopTask {
    static let info = TaskInfo(name: "put-in-drawer", instruction: "open the drawer and put the block in it", isHard: true)
    var cabinet: DrawerCabinet
    var block: GraspableBlock
    var inDrawer = false
    let gripperStart: Vec3

    init(rng: inout SeededRNG) {
        cabinet = DrawerCabinet(rng: &rng)
        let side: Float = rng.uniform() < 0.5 ? -1 : 1
        let bx = min(max(cabinet.x + side * rng.float(0.18, 0.24), -0.36), 0.36)
        // Keep clear of the drawer's sweep when the cabinet sits near the table edge.
        let clearX = abs(bx - cabinet.x) < 0.14 ? cabinet.x - side * 0.2 : bx
        block = GraspableBlock(position: Vec3(clearX, rng.float(-0.05, 0.08), 0.022))
        gripperStart = Vec3(rng.float(-0.15, 0.15), rng.float(-0.2, -0.1), rng.float(0.18, 0.26))
    }

    var solids: [Box] { cabinet.solids }

    mutating func interact(gripper: inout Gripper, previous: Gripper) {
        let moved = cabinet.interact(gripper: gripper, previous: previous)
        if inDrawer && !block.isHeld { block.position.y -= moved }
        let wasHeld = block.isHeld
        let cabinet = self.cabinet
        block.interact(gripper: &gripper, previous: previous) { x, y in
            cabinet.interiorContains(x, y) ? DrawerCabinet.floorZ : 0
        }
        if wasHeld && !block.isHeld { inDrawer = cabinet.interiorContains(block.position.x, block.position.y) }
        if block.isHeld { inDrawer = false }
    }

    var isSuccess: Bool { inDrawer && !block.isHeld }
    /// The block's distance from the middle of the drawer's inside (where the expert sets it down).
    var shortfall: Float { length(block.position - insideMiddle) }
    private var insideMiddle: Vec3 { Vec3(cabinet.x, cabinet.drawerFrontY + 0.075, DrawerCabinet.floorZ + block.half) }

    /// The drawer's hook point, the block, the middle of the drawer's inside.
    var landmarks: [Vec3] {
        [cabinet.hookPoint, block.position, insideMiddle]
    }

    var primitives: [Primitive] {
        cabinet.primitives + [shadow(x: block.position.x, y: block.position.y, radius: 0.025, height: block.position.z - block.half),
                              .box(block.box)]
    }

    func expertAction(gripper: Gripper, slack: Float) -> [Float] {
        if !block.isHeld && !inDrawer, let pull = cabinet.openingAction(gripper, until: 0.14, slack: slack) {
            return pull
        }
        let goal = Vec3(cabinet.x, (cabinet.drawerFrontY + cabinet.frontY) / 2 + 0.004, DrawerCabinet.floorZ)
        return carry(block, to: goal, gripper: gripper, travelHeight: 0.15, slack: slack) ?? [0, 0, 1, 1]
    }
}
