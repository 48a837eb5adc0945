import Foundation
import SeededRandom

/// Pull a drawer open by its handle (MetaWorld's drawer-open family).
///
/// Success: the drawer is out at least 10 cm. Starting state: cabinet at a random place at the
/// back of the table, drawer closed.
struct DrawerOpen: TabletopTask {
    static let info = TaskInfo(name: "drawer-open", instruction: "open the drawer", isHard: false)
    var cabinet: DrawerCabinet
    let gripperStart: Vec3

    init(rng: inout SeededRNG) {
        cabinet = DrawerCabinet(rng: &rng)
        gripperStart = Vec3(rng.float(-0.15, 0.15), rng.float(-0.2, -0.05), rng.float(0.18, 0.28))
    }

    var solids: [Box] { cabinet.solids }
    mutating func interact(gripper: inout Gripper, previous: Gripper) { _ = cabinet.interact(gripper: gripper, previous: previous) }
    static let openedBy: Float = 0.10
    var isSuccess: Bool { cabinet.opening >= Self.openedBy }
    /// Drawer travel still missing.
    var shortfall: Float { Self.openedBy - cabinet.opening }

    /// The handle's hook point, that point with the drawer open, the cabinet's front.
    var landmarks: [Vec3] { cabinet.landmarks }
    var primitives: [Primitive] { cabinet.primitives }

    func expertAction(gripper: Gripper, slack: Float) -> [Float] {
        cabinet.openingAction(gripper, until: 0.13, slack: slack) ?? [0, 0, 1, -1]
    }
}
