import Foundation
import SeededRandom

/// Push a puck onto a target spot (MetaWorld's push family).
///
/// The puck slides when the lowered gripper runs into it. Success: the puck's centre within
/// 3 cm of the target. Starting state: puck and target at random places 12–20 cm apart.
struct Push: TabletopTask {
    static let info = TaskInfo(name: "push", instruction: "push the puck to the blue spot", isHard: false)
    var puck: SIMD2<Float>
    let target: SIMD2<Float>
    let gripperStart: Vec3
    static let radius: Float = 0.03
    static let height: Float = 0.04
    static let pusher: Float = 0.02

    init(rng: inout SeededRNG) {
        puck = SIMD2(rng.float(-0.15, 0.15), rng.float(0.05, 0.22))
        var t: SIMD2<Float>
        repeat {
            let angle = rng.float(0, 2 * .pi), distance = rng.float(0.12, 0.2)
            t = puck + distance * SIMD2(cosf(angle), sinf(angle))
        } while t.x < -0.3 || t.x > 0.3 || t.y < -0.05 || t.y > 0.38
        target = t
        gripperStart = Vec3(rng.float(-0.1, 0.1), rng.float(-0.2, -0.1), rng.float(0.18, 0.26))
    }

    var solids: [Box] { [] }

    mutating func interact(gripper: inout Gripper, previous: Gripper) {
        guard gripper.position.z < Self.height else { return }
        let tip = SIMD2(gripper.position.x, gripper.position.y)
        let away = puck - tip
        let distance = (away * away).sum().squareRoot()
        let contact = Self.radius + Self.pusher
        if distance < contact {
            let direction = distance > 1e-6 ? away / distance : SIMD2(0, 1)
            puck = tip + direction * contact
            puck.x = min(max(puck.x, -0.4), 0.4)
            puck.y = min(max(puck.y, -0.25), 0.5)
        }
    }

    var isSuccess: Bool { shortfall < 0.03 }
    /// The puck's distance from the spot's centre (success below 3 cm).
    var shortfall: Float { ((puck - target) * (puck - target)).sum().squareRoot() }

    /// The puck, the target spot, and the point behind the puck the push starts from.
    var landmarks: [Vec3] {
        let toTarget = target - puck
        let distance = max(1e-6, (toTarget * toTarget).sum().squareRoot())
        let behind = puck - toTarget / distance * (Self.radius + Self.pusher + 0.02)
        return [Vec3(puck.x, puck.y, Self.height / 2), Vec3(target.x, target.y, 0), Vec3(behind.x, behind.y, 0.015)]
    }

    var primitives: [Primitive] {
        [.marker(Marker(center: Vec3(target.x, target.y, 0.001), radius: 0.035, color: Palette.blue)),
         .cylinder(Cylinder(center: Vec3(puck.x, puck.y, Self.height / 2), radius: Self.radius, halfHeight: Self.height / 2,
                            color: Palette.yellow))]
    }

    func expertAction(gripper: Gripper, slack: Float) -> [Float] {
        let tip = gripper.position
        let toTarget = target - puck
        let distance = (toTarget * toTarget).sum().squareRoot()
        if distance < 0.008 { return [0, 0, 1, -1] }
        let d = toTarget / distance
        let behind = puck - d * (Self.radius + Self.pusher + 0.02)
        let tip2 = SIMD2(tip.x, tip.y)
        // On the line behind the puck, facing the target?
        let rel = tip2 - puck
        let alongLine = (rel * d).sum()
        let offLine = abs(rel.x * d.y - rel.y * d.x)
        if tip.z < 0.03 && alongLine < -0.025 && offLine < 0.02 {
            // Aim slightly into the puck from exactly behind it: the sideways part of each step
            // steers the tip back onto the line, the forward part pushes.
            let goal = puck - d * (Self.radius + Self.pusher - min(0.012, distance))
            return moveTowards(Vec3(goal.x, goal.y, 0.015), from: tip, grip: -1)
        }
        if abs(tip.x - behind.x) > 0.005 + slack || abs(tip.y - behind.y) > 0.005 + slack {
            // Go round above the puck, never through it.
            if tip.z < 0.07 { return moveTowards(Vec3(tip.x, tip.y, 0.09), from: tip, grip: -1) }
            return moveTowards(Vec3(behind.x, behind.y, 0.09), from: tip, grip: -1)
        }
        return moveTowards(Vec3(behind.x, behind.y, 0.015), from: tip, grip: -1)
    }
}
