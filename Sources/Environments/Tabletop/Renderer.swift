import Foundation
import Media

/// A pinhole camera looking at a point, z up.
struct Camera {
    let eye: Vec3
    let right: Vec3
    let up: Vec3
    let forward: Vec3
    /// tan(half the vertical field of view).
    let tanHalfFov: Float

    init(eye: Vec3, target: Vec3, fieldOfViewDegrees: Float = 45, worldUp: Vec3 = Vec3(0, 0, 1)) {
        self.eye = eye
        forward = normalize(target - eye)
        var r = cross(forward, worldUp)
        if length(r) < 1e-4 { r = cross(forward, Vec3(0, 1, 0)) }
        right = normalize(r)
        up = cross(right, forward)
        tanHalfFov = tanf(fieldOfViewDegrees * .pi / 360)
    }
}

/// A small software rasteriser: flat-shaded triangles with a depth buffer, drawn at a multiple of
/// the output resolution and averaged down (supersampling anti-aliasing), so 32×32 frames stay
/// readable. Buffers are kept between frames.
final class Renderer {
    private var width = 0, height = 0
    private var color: [Vec3] = []
    private var inverseDepth: [Float] = []
    private let light = normalize(Vec3(-0.35, -0.55, 1.0))
    private let fill = normalize(Vec3(0.6, 0.3, 0.4))

    /// Renders `primitives` seen by `camera` into a `resolution`×`resolution` image.
    func render(_ primitives: [Primitive], camera: Camera, resolution: Int) -> RGBImage {
        let factor = max(2, 160 / resolution)  // about 160 internal pixels per side, at least 2×2 samples
        prepare(side: resolution * factor)
        for primitive in primitives { draw(primitive, camera) }
        return downsample(resolution: resolution, factor: factor)
    }

    private func prepare(side: Int) {
        if width != side {
            width = side
            height = side
            color = Array(repeating: .zero, count: side * side)
            inverseDepth = Array(repeating: 0, count: side * side)
        }
        // Background: a wall that darkens towards the top.
        for y in 0..<height {
            let t = Float(y) / Float(height)
            let wall = Vec3(0.60, 0.66, 0.72) * (0.75 + 0.25 * t)
            for x in 0..<width { color[y * width + x] = wall }
        }
        for i in inverseDepth.indices { inverseDepth[i] = 0 }
    }

    private func shade(_ base: Vec3, normal: Vec3) -> Vec3 {
        let direct = max(0, dot(normal, light))
        let bounce = max(0, dot(normal, fill))
        return base * (0.38 + 0.55 * direct + 0.18 * bounce)
    }

    private func draw(_ primitive: Primitive, _ camera: Camera) {
        switch primitive {
        case .box(let box):
            let (c, s) = (cosf(box.yaw), sinf(box.yaw))
            let ax = Vec3(c, s, 0) * box.half.x, ay = Vec3(-s, c, 0) * box.half.y, az = Vec3(0, 0, box.half.z)
            let faces: [(Vec3, Vec3, Vec3)] = [(ax, ay, az), (-ax, -ay, az), (ay, -ax, az), (-ay, ax, az), (az, ax, ay), (-az, -ax, ay)]
            for (n, u, v) in faces {
                let center = box.center + n
                let normal = normalize(n)
                let shaded = shade(box.color, normal: normal)
                quad(center - u - v, center + u - v, center + u + v, center - u + v, shaded, camera)
            }
        case .cylinder(let cylinder):
            let sides = 16
            let top = cylinder.center.z + cylinder.halfHeight, bottom = cylinder.center.z - cylinder.halfHeight
            var previous = Vec3(cylinder.center.x + cylinder.radius, cylinder.center.y, 0)
            let topShade = shade(cylinder.color, normal: Vec3(0, 0, 1))
            for i in 1...sides {
                let angle = Float(i) * 2 * .pi / Float(sides)
                let point = Vec3(cylinder.center.x + cylinder.radius * cosf(angle), cylinder.center.y + cylinder.radius * sinf(angle), 0)
                let mid = (previous + point) * 0.5 - Vec3(cylinder.center.x, cylinder.center.y, 0)
                let normal = normalize(Vec3(mid.x, mid.y, 0))
                let a = Vec3(previous.x, previous.y, bottom), b = Vec3(point.x, point.y, bottom)
                quad(a, b, Vec3(point.x, point.y, top), Vec3(previous.x, previous.y, top), shade(cylinder.color, normal: normal), camera)
                triangle(Vec3(cylinder.center.x, cylinder.center.y, top), Vec3(previous.x, previous.y, top),
                         Vec3(point.x, point.y, top), topShade, camera)
                previous = point
            }
        case .marker(let marker):
            let shaded = shade(marker.color, normal: Vec3(0, 0, 1))
            if marker.square {
                let (u, v) = (Vec3(marker.radius, 0, 0), Vec3(0, marker.radius, 0))
                quad(marker.center - u - v, marker.center + u - v, marker.center + u + v, marker.center - u + v, shaded, camera)
            } else {
                let sides = 20
                var previous = marker.center + Vec3(marker.radius, 0, 0)
                for i in 1...sides {
                    let angle = Float(i) * 2 * .pi / Float(sides)
                    let point = marker.center + Vec3(marker.radius * cosf(angle), marker.radius * sinf(angle), 0)
                    triangle(marker.center, previous, point, shaded, camera)
                    previous = point
                }
            }
        }
    }

    private func quad(_ a: Vec3, _ b: Vec3, _ c: Vec3, _ d: Vec3, _ shade: Vec3, _ camera: Camera) {
        triangle(a, b, c, shade, camera)
        triangle(a, c, d, shade, camera)
    }

    /// Projects to pixel coordinates and 1/depth; nil behind the camera.
    @inline(__always)
    private func project(_ p: Vec3, _ camera: Camera) -> SIMD3<Float>? {
        let d = p - camera.eye
        let z = dot(d, camera.forward)
        guard z > 0.05 else { return nil }
        let focal = Float(height) / 2 / camera.tanHalfFov
        let x = Float(width) / 2 + focal * dot(d, camera.right) / z
        let y = Float(height) / 2 - focal * dot(d, camera.up) / z
        return SIMD3(x, y, 1 / z)
    }

    private func triangle(_ a: Vec3, _ b: Vec3, _ c: Vec3, _ shade: Vec3, _ camera: Camera) {
        guard let p0 = project(a, camera), let p1 = project(b, camera), let p2 = project(c, camera) else { return }
        let area = (p1.x - p0.x) * (p2.y - p0.y) - (p1.y - p0.y) * (p2.x - p0.x)
        guard abs(area) > 1e-6 else { return }
        let minX = max(0, Int(floorf(min(p0.x, p1.x, p2.x)))), maxX = min(width - 1, Int(ceilf(max(p0.x, p1.x, p2.x))))
        let minY = max(0, Int(floorf(min(p0.y, p1.y, p2.y)))), maxY = min(height - 1, Int(ceilf(max(p0.y, p1.y, p2.y))))
        guard minX <= maxX && minY <= maxY else { return }
        let inverseArea = 1 / area
        for y in minY...maxY {
            let py = Float(y) + 0.5
            for x in minX...maxX {
                let px = Float(x) + 0.5
                // Barycentric weights from edge functions; inside when all share the area's sign.
                let w0 = ((p1.x - px) * (p2.y - py) - (p1.y - py) * (p2.x - px)) * inverseArea
                let w1 = ((p2.x - px) * (p0.y - py) - (p2.y - py) * (p0.x - px)) * inverseArea
                let w2 = 1 - w0 - w1
                guard w0 >= 0, w1 >= 0, w2 >= 0 else { continue }
                let depth = w0 * p0.z + w1 * p1.z + w2 * p2.z  // 1/z is affine in screen space
                let i = y * width + x
                if depth > inverseDepth[i] {
                    inverseDepth[i] = depth
                    color[i] = shade
                }
            }
        }
    }

    private func downsample(resolution: Int, factor: Int) -> RGBImage {
        var pixels = [UInt8](repeating: 0, count: resolution * resolution * 3)
        let scale = 1 / Float(factor * factor)
        for oy in 0..<resolution {
            for ox in 0..<resolution {
                var sum = Vec3.zero
                for dy in 0..<factor {
                    let row = (oy * factor + dy) * width + ox * factor
                    for dx in 0..<factor { sum += color[row + dx] }
                }
                // A display gamma makes the flat shading read like a photograph.
                let c = (sum * scale).clamped(lowerBound: .zero, upperBound: .one)
                let o = (oy * resolution + ox) * 3
                pixels[o] = UInt8(powf(c.x, 1 / 1.6) * 255 + 0.5)
                pixels[o + 1] = UInt8(powf(c.y, 1 / 1.6) * 255 + 0.5)
                pixels[o + 2] = UInt8(powf(c.z, 1 / 1.6) * 255 + 0.5)
            }
        }
        return RGBImage(width: resolution, height: resolution, pixels: pixels)
    }
}

@inline(__always) func dot(_ a: Vec3, _ b: Vec3) -> Float { (a * b).sum() }
@inline(__always) func cross(_ a: Vec3, _ b: Vec3) -> Vec3 {
    Vec3(a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x)
}
@inline(__always) func length(_ a: Vec3) -> Float { dot(a, a).squareRoot() }
@inline(__always) func normalize(_ a: Vec3) -> Vec3 { a / max(length(a), 1e-12) }
