import Foundation
import SeededRandom

/// Press a button from above (MetaWorld's button-press-topdown family).
///
/// A plunger sits on a housing; the gripper pushes it down. Success: pressed at least 80 % of its
/// travel. Starting state: housing anywhere in the front half of the table.
struct ButtonPress: TabletopTask {
    static let info = TaskInfo(name: "button-press", instruction: "press the button", isHard: false)
    var x: Float, y: Float
    var depth: Float = 0
    var wasPressed = false
    let gripperStart: Vec3
    static let housingTop: Float = 0.04
    static let travel: Float = 0.025
    static let restTop: Float = 0.065

    init(rng: inout SeededRNG) {
        x = rng.float(-0.22, 0.22)
        y = rng.float(0.02, 0.32)
        gripperStart = Vec3(rng.float(-0.1, 0.1), rng.float(-0.15, -0.05), rng.float(0.2, 0.28))
    }

    var housing: Box {
        Box(center: Vec3(x, y, Self.housingTop / 2), half: Vec3(0.05, 0.05, Self.housingTop / 2), color: Palette.cabinet)
    }
    var solids: [Box] { [housing] }
    var plungerTop: Float { Self.restTop - depth }

    mutating func interact(gripper: inout Gripper, previous: Gripper) {
        let tip = gripper.position
        let over = abs(tip.x - x) < 0.03 && abs(tip.y - y) < 0.03
        if over && tip.z < plungerTop {
            depth = min(Self.travel, Self.restTop - tip.z)
            // The plunger bottoms out; the tip cannot go further.
            gripper.position.z = max(tip.z, Self.restTop - Self.travel)
        } else if !over || tip.z > Self.restTop {
            depth = max(0, depth - 0.005)  // springs back
        }
        if depth >= Self.pressedDepth { wasPressed = true }
    }

    var isSuccess: Bool { wasPressed }
    /// Plunger travel still missing.
    var shortfall: Float { Self.pressedDepth - depth }
    /// Pressed: at least 80 % of the travel.
    static let pressedDepth: Float = 0.8 * travel

    /// The plunger's top, the same point pressed home, the housing's top.
    var landmarks: [Vec3] {
        [Vec3(x, y, plungerTop), Vec3(x, y, Self.restTop - Self.travel), Vec3(x, y, Self.housingTop)]
    }

    var primitives: [Primitive] {
        [.box(housing),
         .cylinder(Cylinder(center: Vec3(x, y, (Self.housingTop + plungerTop) / 2), radius: 0.025,
                            halfHeight: (plungerTop - Self.housingTop) / 2, color: Palette.red))]
    }

    func expertAction(gripper: Gripper, slack: Float) -> [Float] {
        let tip = gripper.position
        if abs(tip.x - x) > 0.005 + slack || abs(tip.y - y) > 0.005 + slack {
            return moveTowards(Vec3(x, y, max(tip.z, 0.12)), from: tip, grip: -1)
        }
        return moveTowards(Vec3(x, y, 0.02), from: tip, grip: -1)
    }
}
