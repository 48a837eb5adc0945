/// An 8-bit RGB image, rows top to bottom, pixels left to right, channels interleaved.
public struct RGBImage: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(pixels.count == width * height * 3, "\(pixels.count) bytes for a \(width)×\(height) RGB image")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// A uniform image.
    public init(width: Int, height: Int, color: (UInt8, UInt8, UInt8) = (0, 0, 0)) {
        self.width = width
        self.height = height
        var p = [UInt8](repeating: 0, count: width * height * 3)
        for i in stride(from: 0, to: p.count, by: 3) { (p[i], p[i + 1], p[i + 2]) = color }
        pixels = p
    }

    public subscript(x: Int, y: Int) -> (UInt8, UInt8, UInt8) {
        get {
            let i = (y * width + x) * 3
            return (pixels[i], pixels[i + 1], pixels[i + 2])
        }
        set {
            let i = (y * width + x) * 3
            (pixels[i], pixels[i + 1], pixels[i + 2]) = newValue
        }
    }

    /// Resized by area averaging (shrinking) or nearest neighbour (growing).
    public func resized(width newWidth: Int, height newHeight: Int) -> RGBImage {
        if newWidth == width && newHeight == height { return self }
        var out = [UInt8](repeating: 0, count: newWidth * newHeight * 3)
        for oy in 0..<newHeight {
            let y0 = oy * height / newHeight, y1 = max(y0 + 1, (oy + 1) * height / newHeight)
            for ox in 0..<newWidth {
                let x0 = ox * width / newWidth, x1 = max(x0 + 1, (ox + 1) * width / newWidth)
                var sum = (0, 0, 0)
                for y in y0..<y1 {
                    for x in x0..<x1 {
                        let i = (y * width + x) * 3
                        sum.0 += Int(pixels[i])
                        sum.1 += Int(pixels[i + 1])
                        sum.2 += Int(pixels[i + 2])
                    }
                }
                let n = (y1 - y0) * (x1 - x0)
                let o = (oy * newWidth + ox) * 3
                out[o] = UInt8((sum.0 + n / 2) / n)
                out[o + 1] = UInt8((sum.1 + n / 2) / n)
                out[o + 2] = UInt8((sum.2 + n / 2) / n)
            }
        }
        return RGBImage(width: newWidth, height: newHeight, pixels: out)
    }

    /// The centre square, as large as fits.
    public func centerSquare() -> RGBImage {
        let side = min(width, height)
        return cropped(x: (width - side) / 2, y: (height - side) / 2, width: side, height: side)
    }

    public func cropped(x: Int, y: Int, width w: Int, height h: Int) -> RGBImage {
        precondition(x >= 0 && y >= 0 && x + w <= width && y + h <= height, "crop outside the image")
        var out = [UInt8]()
        out.reserveCapacity(w * h * 3)
        for row in y..<(y + h) { out += pixels[((row * width + x) * 3)..<((row * width + x + w) * 3)] }
        return RGBImage(width: w, height: h, pixels: out)
    }

    /// Copies `image` into this one with its top-left corner at (x, y) (clipped).
    public mutating func paste(_ image: RGBImage, x: Int, y: Int) {
        for row in 0..<image.height where y + row >= 0 && y + row < height {
            for column in 0..<image.width where x + column >= 0 && x + column < width {
                self[x + column, y + row] = image[column, row]
            }
        }
    }

    /// Values scaled to [0, 1], planar channels first: (3, height, width).
    public func planarFloats() -> [Float] {
        var out = [Float](repeating: 0, count: width * height * 3)
        let plane = width * height
        for i in 0..<plane {
            out[i] = Float(pixels[3 * i]) / 255
            out[plane + i] = Float(pixels[3 * i + 1]) / 255
            out[2 * plane + i] = Float(pixels[3 * i + 2]) / 255
        }
        return out
    }

    /// Planar floats in [−1, 1], (3, height, width): what the networks take.
    public func planarSigned() -> [Float] { planarFloats().map { $0 * 2 - 1 } }

    /// From planar floats in [−1, 1] (clamped), (3, height, width): what the networks give.
    public init(planarSigned values: [Float], width: Int, height: Int) {
        self.init(planar: values.map { ($0 + 1) / 2 }, width: width, height: height)
    }

    /// From planar floats in [0, 1] (clamped; NaN becomes 0), (3, height, width).
    public init(planar values: [Float], width: Int, height: Int) {
        precondition(values.count == width * height * 3, "\(values.count) values for a \(width)×\(height) RGB image")
        let plane = width * height
        var p = [UInt8](repeating: 0, count: plane * 3)
        for i in 0..<plane {
            for c in 0..<3 {
                let v = values[c * plane + i]
                p[3 * i + c] = v.isNaN ? 0 : UInt8((min(max(v, 0), 1) * 255).rounded())  // NaN would trap
            }
        }
        self.init(width: width, height: height, pixels: p)
    }
}
