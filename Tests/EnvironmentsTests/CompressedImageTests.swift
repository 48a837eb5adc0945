import Environments
import Foundation
import Media
import Testing

/// Training keeps hundreds of thousands of frames in memory as PNG bytes (`FollowerData`).
@Suite("Compressed images")
struct CompressedImageTests {
    private func temporaryPath(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("compressed-\(UUID().uuidString)-\(name)").path
    }

    @Test("a rendered frame read from its file decodes to the same pixels and takes a fraction of their bytes")
    func roundTrip() throws {
        let frame = try TabletopEnvironment().reset(task: "push", seed: 7, camera: "corner", resolution: 64).frame
        let path = temporaryPath("frame.png")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try PNG.write(frame, to: path)
        let stored = try CompressedImage(contentsOf: path)
        #expect(stored.width == 64 && stored.height == 64)
        #expect(try stored.decoded() == frame)
        #expect(stored.png.count * 2 < frame.pixels.count)
        #expect(try CompressedImage(frame).decoded() == frame)
    }

    @Test("a file that is not a PNG is refused when read, naming the file")
    func notPNG() throws {
        let path = temporaryPath("frame.png")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data("not an image at all, but long enough".utf8).write(to: URL(fileURLWithPath: path))
        let error = #expect(throws: PNGError.self) { try CompressedImage(contentsOf: path) }
        #expect(error?.description.contains(path) == true)
        #expect(throws: PNGError.self) { try CompressedImage(contentsOf: path + ".missing") }
    }
}
