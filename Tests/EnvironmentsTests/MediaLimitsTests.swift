import Media
import Testing

/// Frames arrive from robots over the bus: their headers must not decide how much memory is used.
@Suite("Untrusted frames")
struct MediaLimitsTests {
    /// A minimal PNG whose header claims `width` × `height` (the image data is one empty IDAT).
    private func pngHeader(width: UInt32, height: UInt32) -> [UInt8] {
        func chunk(_ type: String, _ body: [UInt8]) -> [UInt8] {
            let typeBytes = Array(type.utf8)
            var out = withUnsafeBytes(of: UInt32(body.count).bigEndian) { Array($0) } + typeBytes + body
            var crc: UInt32 = 0xFFFF_FFFF
            for byte in typeBytes + body {
                crc ^= UInt32(byte)
                for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
            }
            out += withUnsafeBytes(of: (~crc).bigEndian) { Array($0) }
            return out
        }
        let ihdr = withUnsafeBytes(of: width.bigEndian) { Array($0) } + withUnsafeBytes(of: height.bigEndian) { Array($0) }
            + [8, 2, 0, 0, 0]
        return [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + chunk("IHDR", ihdr) + chunk("IDAT", [0x78, 0x9C, 3, 0, 0, 0, 0, 1])
            + chunk("IEND", [])
    }

    @Test("a tiny PNG claiming 100000 × 100000 pixels is refused before anything is allocated")
    func hugeDimensions() {
        let error = #expect(throws: PNGError.self) { _ = try PNG.decode(pngHeader(width: 100_000, height: 100_000)) }
        #expect(error?.description.contains("larger than the limit") == true)
    }

    @Test("NaN pixel values become black instead of trapping")
    func nanPixels() throws {
        let image = RGBImage(planar: [Float](repeating: .nan, count: 3 * 4) , width: 2, height: 2)
        #expect(image.pixels == [UInt8](repeating: 0, count: 12))
        _ = try PNG.encode(image)
    }
}
