/// Shapes of the built-in world. Coordinates in metres: x to the right, y away from the front
/// cameras, z up; the table top is z = 0.
typealias Vec3 = SIMD3<Float>

/// An axis-aligned box turned by `yaw` about its vertical centre axis.
struct Box {
    var center: Vec3
    var half: Vec3
    var yaw: Float = 0
    var color: Vec3

    /// Whether a vertical capsule-like probe of radius `radius` spanning z0…z1 at (x, y) overlaps.
    func overlaps(x: Float, y: Float, z0: Float, z1: Float, radius: Float) -> Bool {
        guard z1 > center.z - half.z && z0 < center.z + half.z else { return false }
        let (c, s) = (cosf(-yaw), sinf(-yaw))
        let (dx, dy) = (x - center.x, y - center.y)
        let lx = dx * c - dy * s, ly = dx * s + dy * c
        return abs(lx) < half.x + radius && abs(ly) < half.y + radius
    }
}

/// A vertical cylinder (drawn as a 16-sided prism).
struct Cylinder {
    var center: Vec3
    var radius: Float
    var halfHeight: Float
    var color: Vec3
}

/// A flat disc or square lying on a surface (targets, shadows).
struct Marker {
    var center: Vec3
    var radius: Float
    var color: Vec3
    var square = false
}

enum Primitive {
    case box(Box)
    case cylinder(Cylinder)
    case marker(Marker)
}

/// Colours (linear 0…1) shared by the tasks so that the same object looks the same everywhere.
enum Palette {
    static let table = Vec3(0.78, 0.66, 0.50)
    static let cabinet = Vec3(0.55, 0.42, 0.30)
    static let drawer = Vec3(0.70, 0.55, 0.38)
    static let handle = Vec3(0.20, 0.20, 0.22)
    static let door = Vec3(0.45, 0.60, 0.75)
    static let red = Vec3(0.85, 0.18, 0.15)
    static let blue = Vec3(0.20, 0.35, 0.85)
    static let green = Vec3(0.20, 0.70, 0.30)
    static let yellow = Vec3(0.95, 0.80, 0.15)
    static let gripper = Vec3(0.30, 0.30, 0.33)
    static let arm = Vec3(0.55, 0.55, 0.58)
}

import Foundation
