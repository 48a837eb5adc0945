import Control
import Dataset
@testable import Environments
import Foundation
import Media
import Testing

@Suite("Wrist camera")
struct WristCameraTests {
    @Test("it looks down at the hand: it moves with the hand, leaves the scene camera's frames as they were, and rides along frame-less steps")
    func looksAtTheHand() throws {
        let plain = TabletopEnvironment(), withWrist = TabletopEnvironment()
        try withWrist.attachWristCamera(resolution: 32)
        let a = try plain.reset(task: "push", seed: 3, camera: "corner", resolution: 32)
        let b = try withWrist.reset(task: "push", seed: 3, camera: "corner", resolution: 32)
        #expect(a.wrist == nil)
        let first = try #require(b.wrist)
        #expect(first.width == 32 && first.height == 32)
        #expect(a.frame == b.frame, "attaching the wrist camera must not change the scene camera's frames")
        // The hand moves 2 cm along +x: the table below slides the other way in the wrist view.
        let moved = try withWrist.step([1, 0, 0, 1])
        let second = try #require(moved.observation.wrist)
        #expect(second != first)
        // A step without a frame hands out the last wrist frame with fresh proprioception.
        let skipped = try withWrist.step([0, 1, 0, 1], frame: false)
        #expect(skipped.observation.wrist == second && !skipped.rendered)
        #expect(try withWrist.render().wrist != second)
        // Taken away again, observations have none.
        try withWrist.attachWristCamera(resolution: 0)
        #expect(try withWrist.reset(task: "push", seed: 3, camera: "corner", resolution: 32).wrist == nil)
        #expect(throws: EnvironmentError.invalidResolution(4)) { try withWrist.attachWristCamera(resolution: 4) }
    }

    @Test("up close, objects nearer than the scene cameras ever are stay drawn: the puck fills much of the view just above it")
    func nearObjectsAreClipped() throws {
        let environment = TabletopEnvironment()
        try environment.attachWristCamera(resolution: 32)
        _ = try environment.reset(task: "push", seed: 3, camera: "corner", resolution: 16)
        let expert = environment.makeDemonstrator()
        // The expert lines up behind the puck and pushes it: then the puck (yellow) is close below the camera.
        var yellowShare: Double = 0
        for _ in 0..<60 {
            let result = try environment.step(try expert.action())
            let wrist = try #require(result.observation.wrist)
            var yellow = 0
            for y in 0..<wrist.height {
                for x in 0..<wrist.width {
                    let (r, g, b) = wrist[x, y]
                    if r > 180 && g > 160 && b < 110 { yellow += 1 }
                }
            }
            yellowShare = max(yellowShare, Double(yellow) / Double(wrist.width * wrist.height))
            if result.terminated { break }
        }
        #expect(yellowShare > 0.1, "at most \(yellowShare * 100) % of the wrist frame showed the puck")
    }

    @Test("set higher it sees the puck's spot on more of an expert push's steps than from the default height; heights out of range are refused")
    func higherSeesMore() throws {
        /// Steps of an expert push (seed 3) with the hand low enough to push, and how many of their wrist frames show the blue spot.
        func stepsShowingTheSpot(height: Float) throws -> (spot: Int, pushing: Int) {
            let environment = TabletopEnvironment()
            try environment.attachWristCamera(resolution: 32, height: height)
            _ = try environment.reset(task: "push", seed: 3, camera: "corner", resolution: 16)
            let expert = environment.makeDemonstrator()
            var shown = 0, pushing = 0
            for _ in 0..<60 {
                let result = try environment.step(try expert.action())
                let wrist = try #require(result.observation.wrist)
                if result.observation.proprioception[2] < 0.03 { pushing += 1 } else { continue }
                var blue = 0
                for y in 0..<wrist.height {
                    for x in 0..<wrist.width {
                        let (r, _, b) = wrist[x, y]
                        if b > 150 && r < 110 { blue += 1 }
                    }
                }
                if blue >= 4 { shown += 1 }
                if result.terminated { break }
            }
            return (shown, pushing)
        }
        let low = try stepsShowingTheSpot(height: WristCamera.defaultHeight), high = try stepsShowingTheSpot(height: 0.2)
        #expect(low.pushing > 3 && high.pushing == low.pushing, "the camera's height must not change the episode")
        #expect(high.spot > low.spot + 2, "from 0.2 m the spot was in view on \(high.spot) of \(high.pushing) pushing steps, from 0.1 m on \(low.spot)")
        #expect(throws: EnvironmentError.invalidWristHeight(0.9)) { try TabletopEnvironment().attachWristCamera(resolution: 32, height: 0.9) }
        #expect(EnvironmentError.invalidWristHeight(0.9).description.contains("0.03 to 0.5 m"))
    }

    @Test("an environment without a wrist camera says so when asked for one, and is fine when asked for none")
    func environmentsWithoutOne() throws {
        final class Bare: Environment {
            let name = "bare"
            let tasks: [TaskInfo] = []
            let cameras: [String] = []
            let maxSteps = 1
            func reset(task: String, seed: UInt64, camera: String, resolution: Int) throws -> Observation { throw EnvironmentError.notReset }
            func step(_ action: [Float]) throws -> StepResult { throw EnvironmentError.notReset }
            func close() {}
        }
        #expect(throws: EnvironmentError.noWristCamera("bare")) { try Bare().attachWristCamera(resolution: 64) }
        try Bare().attachWristCamera(resolution: 0)
        #expect(EnvironmentError.noWristCamera("bare").description.contains("--env builtin"))
    }

    @Test("episodes keep their wrist frames: written beside the frames and read back")
    func datasetRoundTrip() throws {
        let directory = NSTemporaryDirectory() + "videoagent-wrist-\(UUID().uuidString.prefix(8))"
        let environment = TabletopEnvironment()
        try environment.attachWristCamera(resolution: 16)
        let loop = try Collector(environment: environment, resolution: 16).play(task: "button-press", camera: "corner", seed: 4)
        let (record, frames, _) = loop.record(environment: "builtin", resolution: 16, policy: "expert")
        #expect(record.wristResolution == 16 && loop.wristFrames.count == frames.count)
        try DatasetWriter(directory: directory).write(record, frames: frames, wrist: loop.wristFrames)
        let reader = try DatasetReader(directory: directory)
        let (folder, read) = try #require(try reader.episodes().first)
        #expect(read == record && read.wristHeight == nil)
        #expect(try reader.wristFrames(in: folder, count: read.frameCount) == loop.wristFrames)
        // Records from before the wrist camera read without one.
        var old = try JSONSerialization.jsonObject(with: JSONEncoder().encode(record)) as! [String: Any]
        old["wristResolution"] = nil
        #expect(try JSONDecoder().decode(EpisodeRecord.self, from: JSONSerialization.data(withJSONObject: old)).wristResolution == nil)
    }
}
