import Foundation
@testable import Environments
import Media
import SeededRandom
import Testing

@Suite("Built-in tabletop suite")
struct TabletopTests {
    static let taskNames = TabletopEnvironment.registry.map { $0.info.name }

    @Test("the environment checker passes for every task", arguments: taskNames)
    func checker(task: String) throws {
        let env = TabletopEnvironment(maxSteps: 60)
        var rng = SeededRNG(seed: 5)
        for camera in env.cameras {
            let first = try env.reset(task: task, seed: 3, camera: camera, resolution: 24)
            #expect(first.frame.width == 24 && first.frame.height == 24)
            #expect(first.proprioception.count == 4)
            var ended = false
            for step in 1...60 {
                let action = (0..<4).map { _ in rng.float(-1, 1) }
                let result = try env.step(action)
                let p = result.observation.proprioception
                #expect(p[0] >= Gripper.workspaceMin.x && p[0] <= Gripper.workspaceMax.x)
                #expect(p[2] >= Gripper.workspaceMin.z && p[2] <= Gripper.workspaceMax.z)
                #expect(p[3] >= 0 && p[3] <= 1)
                #expect(!(result.terminated && result.truncated), "terminated and truncated at once")
                #expect(result.terminated == result.success)
                if result.terminated || result.truncated {
                    #expect(result.terminated || step == 60, "truncated before the step limit")
                    ended = true
                    break
                }
            }
            #expect(ended, "the episode never ended")
        }
    }

    @Test("every scripted expert succeeds at least 95 % of the time, at its own precision and as a lenient teacher",
          arguments: taskNames, [Float(0), 0.008])
    func expertSucceeds(task: String, slack: Float) throws {
        let env = TabletopEnvironment()
        let expert = env.makeDemonstrator(slack: slack)
        var successes = 0
        let seeds = 40
        for seed in 0..<UInt64(seeds) {
            _ = try env.reset(task: task, seed: 1000 + seed, camera: "corner", resolution: 8)
            while true {
                let result = try env.step(try expert.action())
                if result.success { successes += 1 }
                if result.terminated || result.truncated { break }
            }
        }
        #expect(Double(successes) / Double(seeds) >= 0.95, "\(task) (slack \(slack)): expert succeeded \(successes)/\(seeds)")
    }

    @Test("the demonstrator reads 3 landmarks of every task, and they follow the objects: the puck's ends on the target")
    func landmarks() throws {
        let env = TabletopEnvironment()
        let expert = env.makeDemonstrator()
        for task in Self.taskNames {
            _ = try env.reset(task: task, seed: 11, camera: "corner", resolution: 8)
            let points = try #require(try expert.landmarks())
            #expect(points.count == 3 * TabletopLandmarks.count && points.allSatisfy(\.isFinite), "\(task): \(points)")
        }
        _ = try env.reset(task: "push", seed: 11, camera: "corner", resolution: 8)
        let start = try #require(try expert.landmarks())
        while true {
            let result = try env.step(try expert.action())
            if result.terminated || result.truncated { break }
        }
        let end = try #require(try expert.landmarks())
        let puckMoved = hypot(end[0] - start[0], end[1] - start[1])
        let puckToTarget = hypot(end[0] - end[3], end[1] - end[4])
        #expect(puckMoved > 0.1 && puckToTarget < 0.03, "puck moved \(puckMoved) m, ends \(puckToTarget) m from the target")
        #expect(end[3] == start[3] && end[4] == start[4], "the target spot does not move")
    }

    @Test("a step without a frame keeps the last one and fresh proprioception; render() then draws the state as a step would")
    func stepsWithoutFrames() throws {
        let skipping = TabletopEnvironment(), rendering = TabletopEnvironment()
        let first = try skipping.reset(task: "push", seed: 4, camera: "corner", resolution: 32)
        _ = try rendering.reset(task: "push", seed: 4, camera: "corner", resolution: 32)
        let action: [Float] = [0.5, 0.5, -0.5, 1]
        let quiet = try skipping.step(action, frame: false)
        let drawn = try rendering.step(action)
        #expect(!quiet.rendered && drawn.rendered)
        #expect(quiet.observation.frame.pixels == first.frame.pixels && drawn.observation.frame.pixels != first.frame.pixels)
        #expect(quiet.observation.proprioception == drawn.observation.proprioception)
        #expect(try skipping.render().frame.pixels == drawn.observation.frame.pixels)
    }

    @Test("the shortfall is positive at the start, shrinks under the expert and is 0 once it succeeded", arguments: taskNames)
    func shortfall(task: String) throws {
        let env = TabletopEnvironment()
        let expert = env.makeDemonstrator()
        _ = try env.reset(task: task, seed: 21, camera: "corner", resolution: 8)
        let start = try #require(try expert.shortfall())
        #expect(start > 0.01, "\(task) starts \(start) m from success")
        var smallest = start, succeeded = false
        while true {
            let result = try env.step(try expert.action())
            smallest = min(smallest, try #require(try expert.shortfall()))
            if result.success { succeeded = true }
            if result.terminated || result.truncated { break }
        }
        let end = try #require(try expert.shortfall())
        #expect(succeeded)
        #expect(end == 0 && smallest == 0, "\(task) ended \(end) m from success")
    }

    @Test("doing nothing does not solve any task", arguments: taskNames)
    func noopFails(task: String) throws {
        let env = TabletopEnvironment(maxSteps: 80)
        for seed in 0..<UInt64(5) {
            _ = try env.reset(task: task, seed: seed, camera: "corner", resolution: 8)
            var solved = false
            for _ in 0..<80 { if try env.step([0, 0, 0, 0]).success { solved = true; break } }
            #expect(!solved, "\(task) seed \(seed) solved by a no-op policy")
        }
    }

    @Test("the same seed gives identical frames; another seed does not")
    func determinism() throws {
        func run(seed: UInt64) throws -> [RGBImage] {
            let env = TabletopEnvironment()
            let expert = env.makeDemonstrator()
            var frames = [try env.reset(task: "pick-place", seed: seed, camera: "corner2", resolution: 32).frame]
            for _ in 0..<25 { frames.append(try env.step(try expert.action()).observation.frame) }
            return frames
        }
        #expect(try run(seed: 7) == run(seed: 7))
        #expect(try run(seed: 7)[0] != run(seed: 8)[0])
    }

    @Test("an object is drawn where it is: the red block's pixel is red from above")
    func rendererPlacesObjects() throws {
        let env = TabletopEnvironment()
        for seed in 0..<UInt64(5) {
            let frame = try env.reset(task: "pick-place", seed: seed, camera: "topdown", resolution: 96).frame
            var rng = SeededRNG(seed: seed)
            let task = PickPlace(rng: &rng)
            let camera = TabletopEnvironment.camera("topdown")!
            // Project the top of the block with the same pinhole model the renderer uses.
            let d = task.block.position + Vec3(0, 0, task.block.half) - camera.eye
            let z = dot(d, camera.forward)
            let focal = Float(96) / 2 / camera.tanHalfFov
            let x = Int(48 + focal * dot(d, camera.right) / z), y = Int(48 - focal * dot(d, camera.up) / z)
            let (r, g, b) = frame[x, y]
            #expect(Int(r) > Int(g) + 60 && Int(r) > Int(b) + 60, "seed \(seed): pixel (\(x), \(y)) is \((r, g, b)), not red")
            // And a pixel at the far table corner is table-coloured, not red.
            let (tr, tg, _) = frame[2, 94]
            #expect(abs(Int(tr) - Int(tg)) < 60)
        }
    }

    @Test("unknown tasks and cameras, bad actions and steps before reset are refused clearly")
    func errors() throws {
        let env = TabletopEnvironment()
        #expect(throws: EnvironmentError.self) { try env.step([0, 0, 0, 0]) }
        let unknown = #expect(throws: EnvironmentError.self) { try env.reset(task: "juggle", seed: 0, camera: "corner", resolution: 32) }
        #expect(unknown?.description.contains("door-open") == true)
        let camera = #expect(throws: EnvironmentError.self) { try env.reset(task: "push", seed: 0, camera: "ceiling", resolution: 32) }
        #expect(camera?.description.contains("corner2") == true)
        #expect(throws: EnvironmentError.invalidResolution(4)) { try env.reset(task: "push", seed: 0, camera: "corner", resolution: 4) }
        _ = try env.reset(task: "push", seed: 0, camera: "corner", resolution: 16)
        for bad: [Float] in [[1.5, 0, 0, 0], [0, 0, 0], [0, .nan, 0, 0], [0, 0, -1.01, 0]] {
            #expect(throws: EnvironmentError.self) { try env.step(bad) }
        }
    }

    @Test("32×32 frames keep objects readable: the scene is not a uniform blur")
    func smallFramesHaveContrast() throws {
        let env = TabletopEnvironment()
        for task in Self.taskNames {
            let frame = try env.reset(task: task, seed: 1, camera: "corner", resolution: 32).frame
            let values = frame.pixels.map(Int.init)
            let spread = (values.max() ?? 0) - (values.min() ?? 0)
            #expect(spread > 100, "\(task): frame values span only \(spread)")
        }
    }
}
