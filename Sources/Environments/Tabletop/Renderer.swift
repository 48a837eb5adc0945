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
    /// Nearest depth drawn, metres. With `clipsNear`, triangles that cross it are cut there; without,
    /// they are left out (the scene cameras stand far from everything, and their frames stay as
    /// they were rendered for every dataset and model so far).
    let near: Float
    let clipsNear: Bool

    init(eye: Vec3, target: Vec3, fieldOfViewDegrees: Float = 45, worldUp: Vec3 = Vec3(0, 0, 1), near: Float = 0.05,
         clipsNear: Bool = false) {
        self.eye = eye
        self.near = near
        self.clipsNear = clipsNear
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
    // Raw buffers: array accesses in the pixel loops paid for exclusivity checks and
    // uniqueness tests on every pixel (more than half the frame time).
    private var color = UnsafeMutablePointer<Vec3>.allocate(capacity: 1)
    private var inverseDepth = UnsafeMutablePointer<Float>.allocate(capacity: 1)

    deinit {
        color.deallocate()
        inverseDepth.deallocate()
    }
    private let light = normalize(Vec3(-0.35, -0.55, 1.0))
    private let fill = normalize(Vec3(0.6, 0.3, 0.4))

    /// Renders `primitives` seen by `camera` into a `resolution`×`resolution` image.
    func render(_ primitives: [Primitive], camera: Camera, resolution: Int) -> RGBImage {
        let factor = max(2, 128 / resolution)  // about 128 internal pixels per side, at least 2×2 samples
        prepare(side: resolution * factor)
        for primitive in primitives { draw(primitive, camera) }
        return downsample(resolution: resolution, factor: factor)
    }

    private func prepare(side: Int) {
        if width != side {
            color.deallocate()
            inverseDepth.deallocate()
            width = side
            height = side
            color = .allocate(capacity: side * side)
            inverseDepth = .allocate(capacity: side * side)
        }
        // Background: a wall that darkens towards the top.
        for y in 0..<height {
            let t = Float(y) / Float(height)
            (color + y * width).initialize(repeating: Vec3(0.60, 0.66, 0.72) * (0.75 + 0.25 * t), count: width)
        }
        inverseDepth.initialize(repeating: 0, count: width * height)
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
                // Faces turned away from the camera are hidden by the others: skip them.
                if dot(n, center - camera.eye) >= 0 { continue }
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
                if dot(normal, a - camera.eye) < 0 {
                    quad(a, b, Vec3(point.x, point.y, top), Vec3(previous.x, previous.y, top), shade(cylinder.color, normal: normal), camera)
                }
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
        guard z > camera.near else { return nil }
        let focal = Float(height) / 2 / camera.tanHalfFov
        let x = Float(width) / 2 + focal * dot(d, camera.right) / z
        let y = Float(height) / 2 - focal * dot(d, camera.up) / z
        return SIMD3(x, y, 1 / z)
    }

    private func triangle(_ a: Vec3, _ b: Vec3, _ c: Vec3, _ shade: Vec3, _ camera: Camera) {
        if camera.clipsNear {
            // Cut the triangle at the near plane (a camera in the hand stands inside the scene).
            let depth = { (p: Vec3) in dot(p - camera.eye, camera.forward) - camera.near * 1.001 }
            let (da, db, dc) = (depth(a), depth(b), depth(c))
            if da < 0 || db < 0 || dc < 0 {
                var kept: [Vec3] = []
                for (p, dp, q, dq) in [(a, da, b, db), (b, db, c, dc), (c, dc, a, da)] {
                    if dp >= 0 { kept.append(p) }
                    if (dp >= 0) != (dq >= 0) { kept.append(p + (q - p) * (dp / (dp - dq))) }
                }
                guard kept.count >= 3 else { return }
                for i in 1..<(kept.count - 1) { rasterise(kept[0], kept[i], kept[i + 1], shade, camera) }
                return
            }
        }
        rasterise(a, b, c, shade, camera)
    }

    private func rasterise(_ a: Vec3, _ b: Vec3, _ c: Vec3, _ shade: Vec3, _ camera: Camera) {
        guard let p0 = project(a, camera), let p1 = project(b, camera), let p2 = project(c, camera) else { return }
        let area = (p1.x - p0.x) * (p2.y - p0.y) - (p1.y - p0.y) * (p2.x - p0.x)
        guard abs(area) > 1e-6 else { return }
        let minX = max(0, Int(floorf(min(p0.x, p1.x, p2.x)))), maxX = min(width - 1, Int(ceilf(max(p0.x, p1.x, p2.x))))
        let minY = max(0, Int(floorf(min(p0.y, p1.y, p2.y)))), maxY = min(height - 1, Int(ceilf(max(p0.y, p1.y, p2.y))))
        guard minX <= maxX && minY <= maxY else { return }
        let inverseArea = 1 / area
        // Edge functions are affine in x: step them along each row instead of recomputing.
        let (e0dx, e1dx) = ((p1.y - p2.y) * inverseArea, (p2.y - p0.y) * inverseArea)
        for y in minY...maxY {
            let py = Float(y) + 0.5
            let px0 = Float(minX) + 0.5
            var w0 = ((p1.x - px0) * (p2.y - py) - (p1.y - py) * (p2.x - px0)) * inverseArea
            var w1 = ((p2.x - px0) * (p0.y - py) - (p2.y - py) * (p0.x - px0)) * inverseArea
            let (depthRow, colorRow) = (inverseDepth + y * width, color + y * width)
            for x in minX...maxX {
                let w2 = 1 - w0 - w1
                if w0 >= 0 && w1 >= 0 && w2 >= 0 {
                    let depth = w0 * p0.z + w1 * p1.z + w2 * p2.z  // 1/z is affine in screen space
                    if depth > depthRow[x] {
                        depthRow[x] = depth
                        colorRow[x] = shade
                    }
                }
                w0 += e0dx
                w1 += e1dx
            }
        }
    }

    private func downsample(resolution: Int, factor: Int) -> RGBImage {
        var pixels = [UInt8](repeating: 0, count: resolution * resolution * 3)
        let scale = 1 / Float(factor * factor)
        let levels = Float(Self.gamma.count - 1)
        let (color, width) = (self.color, self.width)
        Self.gamma.withUnsafeBufferPointer { gamma in
            pixels.withUnsafeMutableBufferPointer { pixels in
                for oy in 0..<resolution {
                    for ox in 0..<resolution {
                        var sum = Vec3.zero
                        for dy in 0..<factor {
                            let row = color + (oy * factor + dy) * width + ox * factor
                            for dx in 0..<factor { sum += row[dx] }
                        }
                        let c = (sum * scale).clamped(lowerBound: .zero, upperBound: .one) * levels
                        let o = (oy * resolution + ox) * 3
                        pixels[o] = gamma[Int(c.x + 0.5)]
                        pixels[o + 1] = gamma[Int(c.y + 0.5)]
                        pixels[o + 2] = gamma[Int(c.z + 0.5)]
                    }
                }
            }
        }
        return RGBImage(width: resolution, height: resolution, pixels: pixels)
    }

    /// A display gamma (1/1.6) makes the flat shading read like a photograph; tabulated.
    private static let gamma: [UInt8] = (0...4095).map { UInt8(powf(Float($0) / 4095, 1 / 1.6) * 255 + 0.5) }
}

@inline(__always) func dot(_ a: Vec3, _ b: Vec3) -> Float { (a * b).sum() }
@inline(__always) func cross(_ a: Vec3, _ b: Vec3) -> Vec3 {
    Vec3(a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x)
}
@inline(__always) func length(_ a: Vec3) -> Float { dot(a, a).squareRoot() }
@inline(__always) func normalize(_ a: Vec3) -> Vec3 { a / max(length(a), 1e-12) }
