import ArgumentParser
import Foundation
import Media

/// A plan as a folder of PNG frames (the observation first, as generate and refine write them),
/// read by refine and critique alike.
enum PlanFolder {
    /// The frames in name order; strip.png, the overview written next to them, is not a frame.
    static func read(_ folder: String) throws -> (names: [String], images: [RGBImage]) {
        let names = try FileManager.default.contentsOfDirectory(atPath: folder)
            .filter { $0.lowercased().hasSuffix(".png") && $0 != "strip.png" }.sorted()
        guard names.count >= 2 else { throw ValidationError("--frames \(folder) needs at least two PNGs: the observation and a plan") }
        let images = try names.map { try PNG.read(folder + "/" + $0) }
        if let odd = zip(names, images).first(where: { $0.1.width != images[0].width || $0.1.height != images[0].height }) {
            throw ValidationError("--frames \(folder): frames of mixed sizes (\(odd.0) is \(odd.1.width)×\(odd.1.height) but \(names[0]) is "
                + "\(images[0].width)×\(images[0].height)); give a folder of frames of one size")
        }
        return (names, images)
    }
}
