import CPNG
import Foundation

/// PNG encoding and decoding through libpng's simplified API (no setjmp, errors as messages).
public enum PNG {
    public static func encode(_ image: RGBImage) throws -> [UInt8] {
        var png = png_image()
        png.version = png_uint_32(PNG_IMAGE_VERSION)
        png.width = png_uint_32(image.width)
        png.height = png_uint_32(image.height)
        png.format = png_uint_32(PNG_FORMAT_RGB)
        var size = 0
        let stride = Int32(image.width * 3)
        // First call sizes the buffer, second writes.
        guard image.pixels.withUnsafeBytes({ png_image_write_to_memory(&png, nil, &size, 0, $0.baseAddress, stride, nil) }) != 0
        else { throw PNGError("cannot encode a \(image.width)×\(image.height) PNG: \(message(png))") }
        var out = [UInt8](repeating: 0, count: size)
        let ok = out.withUnsafeMutableBytes { dst in
            image.pixels.withUnsafeBytes { png_image_write_to_memory(&png, dst.baseAddress, &size, 0, $0.baseAddress, stride, nil) }
        }
        png_image_free(&png)
        guard ok != 0 else { throw PNGError("cannot encode PNG: \(message(png))") }
        return Array(out.prefix(size))
    }

    /// The most pixels a decoded frame may have (4096 × 4096): frames arrive from robots over the
    /// bus, and a few bytes of header must not make the reader allocate gigabytes.
    public static let maxPixels = 4096 * 4096

    public static func decode(_ bytes: [UInt8], maxPixels: Int = PNG.maxPixels) throws -> RGBImage {
        var png = png_image()
        png.version = png_uint_32(PNG_IMAGE_VERSION)
        guard bytes.withUnsafeBytes({ png_image_begin_read_from_memory(&png, $0.baseAddress, $0.count) }) != 0 else {
            throw PNGError("not a readable PNG: \(message(png))")
        }
        png.format = png_uint_32(PNG_FORMAT_RGB)  // libpng converts grey, palette and alpha images
        let (width, height) = (Int(png.width), Int(png.height))
        guard width > 0, height > 0, width <= maxPixels / height else {
            png_image_free(&png)
            throw PNGError("a \(width)×\(height) PNG is larger than the limit of \(maxPixels) pixels")
        }
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        let ok = pixels.withUnsafeMutableBytes { png_image_finish_read(&png, nil, $0.baseAddress, Int32(width * 3), nil) }
        png_image_free(&png)
        guard ok != 0 else { throw PNGError("cannot decode PNG: \(message(png))") }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    /// The image as a base64-encoded PNG, as messages on the bus carry frames.
    public static func base64(_ image: RGBImage) throws -> String {
        Data(try encode(image)).base64EncodedString()
    }

    /// A frame from a message: base64 PNG, its size bounded by `maxPixels`.
    public static func decode(base64 text: String, maxPixels: Int = PNG.maxPixels) throws -> RGBImage {
        guard let data = Data(base64Encoded: text) else { throw PNGError("a frame is not valid base64") }
        return try decode([UInt8](data), maxPixels: maxPixels)
    }

    public static func write(_ image: RGBImage, to path: String) throws {
        let bytes = try encode(image)
        guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else {
            throw PNGError("cannot write \(path)")
        }
    }

    public static func read(_ path: String) throws -> RGBImage {
        guard let data = FileManager.default.contents(atPath: path) else { throw PNGError("cannot read \(path)") }
        do {
            return try decode([UInt8](data))
        } catch let error as PNGError {
            throw PNGError("\(path): \(error.description)")
        }
    }

    private static func message(_ png: png_image) -> String {
        withUnsafeBytes(of: png.message) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
    }
}

public struct PNGError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
