import Foundation
import SeededRandom

/// A cabinet whose drawer slides out towards the front cameras (−y), with a bar handle the
/// gripper hooks from above. Shared by drawer-open and put-in-drawer.
struct DrawerCabinet {
    var x: Float
    var y: Float
    /// How far the drawer is out, 0 … `travel`.
    var opening: Float = 0
    static let travel: Float = 0.16
    static let halfWidth: Float = 0.11
    static let halfDepth: Float = 0.09
    static let height: Float = 0.16
    static let floorZ: Float = 0.035

    init(rng: inout SeededRNG) {
        x = rng.float(-0.15, 0.15)
        y = rng.float(0.26, 0.34)
    }

    /// The cabinet's front face (where the closed drawer is flush).
    var frontY: Float { y - Self.halfDepth }
    /// The drawer's front panel, which moves.
    var drawerFrontY: Float { frontY - opening }

    var body: Box {
        Box(center: Vec3(x, y, Self.height / 2), half: Vec3(Self.halfWidth, Self.halfDepth, Self.height / 2), color: Palette.cabinet)
    }
    var frontPanel: Box {
        Box(center: Vec3(x, drawerFrontY + 0.005, 0.06), half: Vec3(0.09, 0.006, 0.03), color: Palette.drawer)
    }
    var solids: [Box] { [body, frontPanel] }

    /// Where the tip sits to pull: between the handle bar and the drawer front.
    var hookPoint: Vec3 { Vec3(x, drawerFrontY - 0.014, 0.045) }

    /// The hook point, the hook point of the open drawer, the middle of the cabinet's front.
    var landmarks: [Vec3] { [hookPoint, Vec3(x, frontY - 0.12 - 0.014, 0.045), Vec3(x, frontY, Self.height / 2)] }

    func isHooked(_ tip: Vec3) -> Bool {
        abs(tip.x - x) < 0.035 && tip.y > drawerFrontY - 0.026 && tip.y < drawerFrontY - 0.002 && tip.z > 0.02 && tip.z < 0.075
    }

    /// The exposed inside of the open drawer, where things can be put.
    func interiorContains(_ px: Float, _ py: Float, margin: Float = 0) -> Bool {
        abs(px - x) < 0.08 - margin && py > drawerFrontY + 0.012 + margin && py < frontY - 0.005 - margin
    }

    /// A hooked gripper pulling towards the front drags the drawer with it. Returns the drawer's move (along −y).
    mutating func interact(gripper: Gripper, previous: Gripper) -> Float {
        guard isHooked(previous.position), gripper.position.y < previous.position.y else { return 0 }
        let before = opening
        opening = min(Self.travel, opening + (previous.position.y - gripper.position.y))
        return opening - before
    }

    var primitives: [Primitive] {
        let front = drawerFrontY
        // The drawer tray: floor, sides and back, visible where it sticks out of the cabinet.
        let trayCenterY = front + 0.075
        var out: [Primitive] = [
            .box(body),
            .box(Box(center: Vec3(x, trayCenterY, 0.032), half: Vec3(0.09, 0.075, 0.004), color: Palette.drawer * 0.9)),
            .box(Box(center: Vec3(x - 0.085, trayCenterY, 0.055), half: Vec3(0.005, 0.075, 0.025), color: Palette.drawer)),
            .box(Box(center: Vec3(x + 0.085, trayCenterY, 0.055), half: Vec3(0.005, 0.075, 0.025), color: Palette.drawer)),
            .box(frontPanel),
            .box(Box(center: Vec3(x, front - 0.03, 0.06), half: Vec3(0.045, 0.005, 0.006), color: Palette.handle)),
        ]
        for side: Float in [-1, 1] {
            out.append(.box(Box(center: Vec3(x + side * 0.04, front - 0.015, 0.06), half: Vec3(0.004, 0.015, 0.004), color: Palette.handle)))
        }
        return out
    }

    /// The expert's pull: hook the handle from above, then draw back. Nil once open enough.
    func openingAction(_ gripper: Gripper, until goal: Float, slack: Float = 0) -> [Float]? {
        guard opening < goal else { return nil }
        let tip = gripper.position
        if isHooked(tip) { return [0, -1, 0, -1] }
        let hook = hookPoint
        let above = Vec3(hook.x, hook.y, 0.14)
        if abs(tip.x - hook.x) > 0.006 + slack || abs(tip.y - hook.y) > 0.006 + slack {
            // Rise first when low, so the fingers clear the handle and the cabinet.
            if tip.z < 0.12 { return moveTowards(Vec3(tip.x, tip.y, above.z), from: tip, grip: -1) }
            return moveTowards(above, from: tip, grip: -1)
        }
        return moveTowards(hook, from: tip, grip: -1)
    }
}
