import Foundation

/// An image held in memory as PNG bytes and decoded when used. Rendered frames compress three to
/// four times, which decides how many episodes fit in memory when training on hundreds of
/// thousands of frames (a 64 px frame: 12 KB of pixels, ~3 KB as PNG).
public struct CompressedImage: Sendable {
    public let png: [UInt8]
    public let width: Int
    public let height: Int

    /// Keeps a PNG file's bytes as they are; the header's size is read and checked, the pixels
    /// are decoded only by ``decoded()``.
    public init(contentsOf path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else { throw PNGError("cannot read \(path)") }
        let bytes = [UInt8](data)
        guard let (width, height) = Self.headerSize(bytes) else { throw PNGError("\(path): not a PNG file") }
        (png, self.width, self.height) = (bytes, width, height)
    }

    public init(_ image: RGBImage) throws {
        (png, width, height) = (try PNG.encode(image), image.width, image.height)
    }

    public func decoded() throws -> RGBImage { try PNG.decode(png) }

    /// Width and height from the IHDR chunk that must open a PNG (signature, length, type, then two big-endian words).
    static func headerSize(_ bytes: [UInt8]) -> (Int, Int)? {
        let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        guard bytes.count >= 24, Array(bytes[0..<8]) == signature, Array(bytes[12..<16]) == Array("IHDR".utf8) else { return nil }
        let word = { (at: Int) in bytes[at..<at + 4].reduce(0) { $0 << 8 | Int($1) } }
        let (width, height) = (word(16), word(20))
        return width > 0 && height > 0 ? (width, height) : nil
    }
}
