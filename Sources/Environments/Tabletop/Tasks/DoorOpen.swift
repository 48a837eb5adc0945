import Foundation
import SeededRandom

/// Swing a hinged door open by its handle (MetaWorld's door-open family).
///
/// The door hangs on the cabinet's front-left edge and opens towards the front. The gripper hooks
/// the vertical handle; while hooked the door turns with it. Success: open at least 60°.
/// Starting state: cabinet at a random place at the back of the table, door closed.
struct DoorOpen: TabletopTask {
    static let info = TaskInfo(name: "door-open", instruction: "open the door", isHard: true)
    var x: Float, y: Float
    /// Door angle in radians: 0 closed … `maxAngle`.
    var angle: Float = 0
    var hooked = false
    let gripperStart: Vec3
    static let length: Float = 0.2
    static let maxAngle: Float = 1.75
    static let handleAlong: Float = 0.17
    static let handleOut: Float = 0.018
    /// Where the tip hooks the handle: this far along the door from the hinge, this far out from it.
    static let hookAlong: Float = 0.172
    static let hookOut: Float = 0.0205

    init(rng: inout SeededRNG) {
        x = rng.float(-0.08, 0.16)
        y = rng.float(0.26, 0.34)
        gripperStart = Vec3(rng.float(-0.15, 0.15), rng.float(-0.2, -0.05), rng.float(0.18, 0.28))
    }

    var cabinet: Box { Box(center: Vec3(x, y, 0.09), half: Vec3(0.1, 0.08, 0.09), color: Palette.cabinet) }
    var hinge: SIMD2<Float> { SIMD2(x - 0.1, y - 0.08 - 0.008) }
    /// Along the door, and its outward normal (towards −y when closed).
    var along: SIMD2<Float> { SIMD2(cosf(angle), -sinf(angle)) }
    var outward: SIMD2<Float> { SIMD2(-sinf(angle), -cosf(angle)) }
    var panel: Box {
        let c = hinge + along * (Self.length / 2)
        return Box(center: Vec3(c.x, c.y, 0.09), half: Vec3(Self.length / 2, 0.006, 0.08), yaw: -angle, color: Palette.door)
    }
    // The panel is solid except while hooked (the hooked fingers ride just outside it).
    var solids: [Box] { hooked ? [cabinet] : [cabinet, panel] }

    /// The tip's coordinates in the door's frame: along the door, out from it.
    func local(_ tip: Vec3) -> SIMD2<Float> {
        let r = SIMD2(tip.x, tip.y) - hinge
        return SIMD2((r * along).sum(), (r * outward).sum())
    }

    func isHooked(_ tip: Vec3) -> Bool {
        let l = local(tip)
        return l.x > 0.14 && l.x < 0.198 && l.y > 0.008 && l.y < 0.028 && tip.z > 0.02 && tip.z < 0.12
    }

    mutating func interact(gripper: inout Gripper, previous: Gripper) {
        if isHooked(previous.position) {
            // Keep the tip's place on the door: the door turns to follow it.
            let before = local(previous.position)
            let offset = atan2f(before.y, before.x)
            let r = SIMD2(gripper.position.x, gripper.position.y) - hinge
            let position = atan2f(-r.y, r.x)  // clockwise angle from +x, as the door opens
            angle = min(max(position - offset, 0), Self.maxAngle)
        }
        hooked = isHooked(gripper.position)
    }

    static let openAngle: Float = 1.05
    var isSuccess: Bool { angle >= Self.openAngle }
    /// The handle's arc still missing (radians × the handle's 17.2 cm from the hinge).
    var shortfall: Float { (Self.openAngle - angle) * Self.hookAlong }

    /// Where the tip hooks the handle, that place with the door open, the hinge.
    var landmarks: [Vec3] {
        func slot(_ angle: Float) -> Vec3 {
            let p = hinge + SIMD2(cosf(angle), -sinf(angle)) * Self.hookAlong + SIMD2(-sinf(angle), -cosf(angle)) * Self.hookOut
            return Vec3(p.x, p.y, 0.07)
        }
        return [slot(angle), slot(1.2), Vec3(hinge.x, hinge.y, 0.07)]
    }

    var primitives: [Primitive] {
        let handle = hinge + along * Self.handleAlong + outward * (Self.handleOut + 0.012)
        var out: [Primitive] = [.box(cabinet), .box(panel),
                                .box(Box(center: Vec3(handle.x, handle.y, 0.095), half: Vec3(0.005, 0.005, 0.035), yaw: -angle,
                                         color: Palette.handle))]
        for z: Float in [0.065, 0.125] {
            let post = hinge + along * Self.handleAlong + outward * 0.02
            out.append(.box(Box(center: Vec3(post.x, post.y, z), half: Vec3(0.004, 0.012, 0.004), yaw: -angle, color: Palette.handle)))
        }
        return out
    }

    func expertAction(gripper: Gripper, slack: Float) -> [Float] {
        let tip = gripper.position
        if angle >= 1.4 { return [0, 0, 1, -1] }
        if isHooked(tip) {
            // Walk around the hinge, keeping the tip where it holds the handle.
            let l = local(tip)
            let target = angle + 0.25
            let u = SIMD2(cosf(target), -sinf(target)), n = SIMD2(-sinf(target), -cosf(target))
            let p = hinge + u * l.x + n * Self.hookOut
            return moveTowards(Vec3(p.x, p.y, 0.07), from: tip, grip: -1)
        }
        let slot = hinge + along * Self.hookAlong + outward * Self.hookOut
        if abs(tip.x - slot.x) > 0.005 + slack || abs(tip.y - slot.y) > 0.005 + slack {
            if tip.z < 0.17 { return moveTowards(Vec3(tip.x, tip.y, 0.2), from: tip, grip: -1) }
            return moveTowards(Vec3(slot.x, slot.y, 0.2), from: tip, grip: -1)
        }
        return moveTowards(Vec3(slot.x, slot.y, 0.07), from: tip, grip: -1)
    }
}
