#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Media
import Synchronization

/// An environment served by another program through the environment protocol
/// (docs/environment-protocol.md): MetaWorld's Python bridge started as a child process, or any
/// server on TCP — a real robot's controller implements the same few messages.
public final class BridgeEnvironment: DemonstrableEnvironment {
    public let name: String
    public let tasks: [TaskInfo]
    public let cameras: [String]
    public let maxSteps: Int
    private let channel: BridgeChannel
    private let process: Process?
    private let socketDescriptor: Int32?
    private let stderrTail: StderrTail?
    /// The last frame received, handed out again by steps the server left unrendered.
    private var lastFrame: RGBImage?

    /// Starts `bridge/metaworld_server.py` with `python` and talks to it over its standard streams.
    /// - Parameters:
    ///   - python: the interpreter with `metaworld` installed (scripts/setup.sh puts one in .venv).
    ///   - script: the server script.
    ///   - timeout: the longest wait for one answer (a reset builds a MuJoCo scene: seconds).
    public static func metaWorld(python: String, script: String, timeout: Duration = .seconds(120)) throws -> BridgeEnvironment {
        guard FileManager.default.isExecutableFile(atPath: python) else {
            throw EnvironmentError.bridge("no Python at \(python); run scripts/setup.sh with VIDEOAGENT_WITH_METAWORLD=1, or pass --python")
        }
        guard FileManager.default.fileExists(atPath: script) else {
            throw EnvironmentError.bridge("no bridge script at \(script); pass --bridge-script")
        }
        return try BridgeEnvironment(command: python, arguments: [script], timeout: timeout)
    }

    /// Runs `command arguments…` as a child speaking the protocol on its standard input and output.
    public init(command: String, arguments: [String], timeout: Duration = .seconds(120)) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: command)
        process.arguments = arguments
        let toChild = Pipe(), fromChild = Pipe(), errors = Pipe()
        process.standardInput = toChild
        process.standardOutput = fromChild
        process.standardError = errors
        let tail = StderrTail()
        errors.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if data.isEmpty { handle.readabilityHandler = nil }
            tail.append(data)
        }
        do {
            try process.run()
        } catch {
            throw EnvironmentError.bridge("cannot start \(command): \(error.localizedDescription)")
        }
        let channel = BridgeChannel(input: fromChild.fileHandleForReading.fileDescriptor,
                                    output: toChild.fileHandleForWriting.fileDescriptor, timeout: timeout)
        let pid = process.processIdentifier
        channel.describePeer = { [weak process] in
            var text = "the bridge (\(command), pid \(pid))"
            if let process, !process.isRunning { text += ", which exited with status \(process.terminationStatus)" }
            let last = tail.lines
            if !last.isEmpty { text += "; its last output: " + last.joined(separator: " | ") }
            return text
        }
        self.process = process
        socketDescriptor = nil
        stderrTail = tail
        (name, tasks, cameras, maxSteps, self.channel) = try Self.handshake(channel)
    }

    /// Connects to a server at HOST:PORT.
    public init(host: String, port: Int, timeout: Duration = .seconds(120)) throws {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &list) == 0, let first = list else {
            throw EnvironmentError.bridge("cannot resolve \(host)")
        }
        defer { freeaddrinfo(list) }
        let fd = socket(first.pointee.ai_family, first.pointee.ai_socktype, first.pointee.ai_protocol)
        guard fd >= 0, connect(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 else {
            let reason = String(cString: strerror(errno))
            if fd >= 0 { Glibc.close(fd) }
            throw EnvironmentError.bridge("cannot connect to \(host):\(port): \(reason)")
        }
        let channel = BridgeChannel(input: fd, output: fd, timeout: timeout)
        channel.describePeer = { "the environment server at \(host):\(port)" }
        process = nil
        socketDescriptor = fd
        stderrTail = nil
        (name, tasks, cameras, maxSteps, self.channel) = try Self.handshake(channel)
    }

    private static func handshake(_ channel: BridgeChannel) throws -> (String, [TaskInfo], [String], Int, BridgeChannel) {
        let (hello, _) = try channel.request(["op": "hello", "protocol": 1])
        guard hello["protocol"] as? Int == 1 else {
            throw EnvironmentError.bridge("\(channel.describePeer()) speaks protocol \(hello["protocol"] ?? "?"), this client 1")
        }
        let tasks = (hello["tasks"] as? [[String: Any]] ?? []).compactMap { entry -> TaskInfo? in
            guard let name = entry["name"] as? String else { return nil }
            return TaskInfo(name: name, instruction: entry["instruction"] as? String ?? name, isHard: entry["is_hard"] as? Bool ?? false)
        }
        return (hello["environment"] as? String ?? "bridge", tasks, hello["cameras"] as? [String] ?? [],
                hello["max_steps"] as? Int ?? 500, channel)
    }

    public func reset(task: String, seed: UInt64, camera: String, resolution: Int) throws -> Observation {
        guard tasks.contains(where: { $0.name == task }) else { throw EnvironmentError.unknownTask(task, known: tasks.map(\.name)) }
        guard cameras.contains(camera) else { throw EnvironmentError.unknownCamera(camera, known: cameras) }
        guard (8...512).contains(resolution) else { throw EnvironmentError.invalidResolution(resolution) }
        let reply = try channel.request(["op": "reset", "task": task, "seed": seed, "camera": camera, "resolution": resolution])
        return try observation(reply)
    }

    public func step(_ action: [Float]) throws -> StepResult { try step(action, frame: true) }

    /// Without `frame`, asks the server to leave the frame unrendered (`"frame": false`); a server
    /// that renders anyway (an older one) is fine: its frame is used.
    public func step(_ action: [Float], frame: Bool) throws -> StepResult {
        try validate(action)
        var request: [String: Any] = ["op": "step", "action": action.map(Double.init)]
        if !frame { request["frame"] = false }
        let reply = try channel.request(request)
        let rendered = reply.header["rendered"] as? Bool ?? true
        let observation: Observation
        if rendered {
            observation = try self.observation(reply)
        } else {
            guard let lastFrame else { throw EnvironmentError.bridge("\(channel.describePeer()) left a frame unrendered before any frame came") }
            observation = Observation(frame: lastFrame, proprioception: Self.proprioception(reply.header))
        }
        return StepResult(observation: observation, success: reply.header["success"] as? Bool ?? false,
                          terminated: reply.header["terminated"] as? Bool ?? false,
                          truncated: reply.header["truncated"] as? Bool ?? false, rendered: rendered)
    }

    public func render() throws -> Observation { try observation(try channel.request(["op": "render"])) }

    /// MetaWorld's scripted policies have their own precision; `slack` does not apply to them.
    public func makeDemonstrator(slack: Float) -> any Demonstrator { BridgeDemonstrator(environment: self) }

    fileprivate func expertAction() throws -> [Float] {
        let (header, _) = try channel.request(["op": "expert"])
        guard let action = header["action"] as? [Double], action.count == 4 else {
            throw EnvironmentError.bridge("\(channel.describePeer()) sent no expert action")
        }
        return action.map { Float(min(max($0, -1), 1)) }
    }

    public func close() {
        try? channel.send(["op": "close"])
        if let process {
            // Give it a moment to exit on its own, then make sure.
            let deadline = Date().addingTimeInterval(3)
            while process.isRunning && Date() < deadline { usleep(20_000) }
            if process.isRunning { process.terminate() }
        }
        if let socketDescriptor { Glibc.close(socketDescriptor) }
    }

    private func observation(_ reply: (header: [String: Any], body: [UInt8])) throws -> Observation {
        guard let width = reply.header["width"] as? Int, let height = reply.header["height"] as? Int,
              reply.body.count == width * height * 3
        else { throw EnvironmentError.bridge("\(channel.describePeer()) sent a frame that does not match its size") }
        let frame = RGBImage(width: width, height: height, pixels: reply.body)
        lastFrame = frame
        return Observation(frame: frame, proprioception: Self.proprioception(reply.header))
    }

    private static func proprioception(_ header: [String: Any]) -> [Float] {
        (header["proprioception"] as? [Double] ?? []).map(Float.init)
    }
}

/// The last lines a child wrote to standard error, for error messages.
final class StderrTail: Sendable {
    private let text = Mutex<String>("")
    func append(_ data: Data) {
        text.withLock { $0 = String(($0 + String(decoding: data, as: UTF8.self)).suffix(2000)) }
    }
    var lines: [String] {
        text.withLock { $0 }.split(separator: "\n").suffix(3).map(String.init)
    }
}

/// The scripted policy the environment server offers (MetaWorld's `metaworld.policies`).
final class BridgeDemonstrator: Demonstrator {
    private unowned let environment: BridgeEnvironment
    init(environment: BridgeEnvironment) { self.environment = environment }
    func action() throws -> [Float] { try environment.expertAction() }
    /// The bridge's protocol carries no object positions.
    func landmarks() throws -> [Float]? { nil }
}
