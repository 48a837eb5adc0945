#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Media
import Testing
import VideoCritic

/// A loopback HTTP server that answers from a script: for the vision-language adapter's
/// protocol tests (it checks the requests, answers, fails and stalls).
final class ScriptedHTTPServer: @unchecked Sendable {
    struct Reply {
        var status: Int
        var body: String
        var delay: TimeInterval = 0
        var headers: [String: String] = [:]
    }

    struct Request {
        var path: String
        var headers: [String: String]
        var body: Data
    }

    let port: Int
    private let socketFD: Int32
    private let lock = NSLock()
    private var replies: [Reply]
    private var received: [Request] = []

    init(replies: [Reply]) throws {
        self.replies = replies
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        guard bound == 0, listen(fd, 8) == 0 else { throw CriticError("cannot listen on loopback") }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        socketFD = fd
        port = Int(UInt16(bigEndian: address.sin_port))
        let thread = Thread { [self] in serve() }
        thread.start()
    }

    var requests: [Request] { lock.withLock { received } }
    var url: URL { URL(string: "http://127.0.0.1:\(port)/v1")! }

    func stop() { shutdown(socketFD, Int32(SHUT_RDWR)); close(socketFD) }

    private func serve() {
        while true {
            let client = accept(socketFD, nil, nil)
            if client < 0 { return }
            var data = Data()
            var buffer = [UInt8](repeating: 0, count: 65536)
            var headerEnd: Range<Data.Index>?
            var contentLength = 0
            while true {
                let n = read(client, &buffer, buffer.count)
                if n <= 0 { break }
                data.append(contentsOf: buffer[0..<n])
                if headerEnd == nil, let end = data.range(of: Data("\r\n\r\n".utf8)) {
                    headerEnd = end
                    let head = String(decoding: data[..<end.lowerBound], as: UTF8.self)
                    for line in head.split(separator: "\r\n") where line.lowercased().hasPrefix("content-length:") {
                        contentLength = Int(line.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) ?? 0
                    }
                }
                if let end = headerEnd, data.count - end.upperBound >= contentLength { break }
            }
            guard let end = headerEnd else { close(client); continue }
            let lines = String(decoding: data[..<end.lowerBound], as: UTF8.self).split(separator: "\r\n")
            var headers: [String: String] = [:]
            for line in lines.dropFirst() {
                if let colon = line.firstIndex(of: ":") {
                    headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                }
            }
            let path = lines.first.map { String($0.split(separator: " ")[1]) } ?? ""
            let reply: Reply = lock.withLock {
                received.append(Request(path: path, headers: headers, body: data[end.upperBound...]))
                return replies.isEmpty ? Reply(status: 500, body: "{}") : replies.removeFirst()
            }
            if reply.delay > 0 { Thread.sleep(forTimeInterval: reply.delay) }
            var response = "HTTP/1.1 \(reply.status) X\r\nContent-Type: application/json\r\nContent-Length: \(reply.body.utf8.count)\r\nConnection: close\r\n"
            for (name, value) in reply.headers { response += "\(name): \(value)\r\n" }
            response += "\r\n" + reply.body
            _ = response.utf8CString.withUnsafeBufferPointer { write(client, $0.baseAddress, $0.count - 1) }
            close(client)
        }
    }
}

@Suite("Vision-language critic adapter", .serialized)
struct VisionChatJudgeTests {
    static func answer(_ text: String) -> ScriptedHTTPServer.Reply {
        .init(status: 200, body: #"{"choices": [{"message": {"role": "assistant", "content": "\#(text)"}}]}"#)
    }

    static var frames: [RGBImage] { (0..<8).map { i in RGBImage(width: 8, height: 8, color: (UInt8(i * 30), 100, 50)) } }

    func judge(_ server: ScriptedHTTPServer, mode: VisionChatJudge.Mode = .binary) -> VisionChatJudge {
        var judge = VisionChatJudge(endpoint: server.url, model: "test-vlm", apiKey: "sk-secret-key", mode: mode)
        judge.backoff = 0.05
        judge.timeout = 1
        return judge
    }

    @Test("a strict Accept/Reject question with every frame as a PNG data URL; the answer decides")
    func binaryProtocol() throws {
        let server = try ScriptedHTTPServer(replies: [Self.answer("Accept"), Self.answer("Reject.")])
        defer { server.stop() }
        let judge = judge(server)
        #expect(try judge.judge(observation: Self.frames[0], plan: Array(Self.frames.dropFirst()), task: "open the drawer").accept)
        #expect(try !judge.judge(observation: Self.frames[0], plan: Array(Self.frames.dropFirst()), task: "open the drawer").accept)
        let request = try #require(server.requests.first)
        #expect(request.path == "/v1/chat/completions")
        #expect(request.headers["authorization"] == "Bearer sk-secret-key")
        let json = try #require(try JSONSerialization.jsonObject(with: request.body) as? [String: Any])
        #expect(json["model"] as? String == "test-vlm")
        let messages = try #require(json["messages"] as? [[String: Any]])
        #expect((messages[0]["content"] as? String)?.contains("Accept or Reject") == true)
        let content = try #require(messages[1]["content"] as? [[String: Any]])
        let images = content.compactMap { ($0["image_url"] as? [String: Any])?["url"] as? String }
        #expect(images.count == 8, "the observation and all 7 plan frames, the last one too")
        #expect(images.allSatisfy { $0.hasPrefix("data:image/png;base64,iVBORw0KGgo") })
        #expect((content[0]["text"] as? String)?.contains("open the drawer") == true)
    }

    @Test("HTTP 429 and 5xx are retried with backoff; a stall times out; an exhausted budget is a clear error without the key")
    func failures() throws {
        let server = try ScriptedHTTPServer(replies: [
            .init(status: 429, body: "{}", headers: ["Retry-After": "0"]), .init(status: 503, body: "{}"), Self.answer("Accept"),
            .init(status: 500, body: "{}"), .init(status: 200, body: "{}", delay: 3), .init(status: 502, body: "{}"), .init(status: 500, body: "{}"),
        ])
        defer { server.stop() }
        let judge = judge(server)
        #expect(try judge.judge(observation: Self.frames[0], plan: [Self.frames[1]], task: "t").accept)
        let error = #expect(throws: CriticError.self) { _ = try judge.judge(observation: Self.frames[0], plan: [Self.frames[1]], task: "t") }
        #expect(error?.description.contains("failed 4 time(s)") == true, "\(error?.description ?? "")")
        #expect(error?.description.contains("sk-secret-key") == false)
        #expect(server.requests.count == 7)
    }

    @Test("a model that answers neither word, or refuses the key, gets a clear error")
    func unusableAnswers() throws {
        let server = try ScriptedHTTPServer(replies: [Self.answer("Maybe, the drawer looks odd"),
                                                      .init(status: 401, body: #"{"error": "invalid api key"}"#)])
        defer { server.stop() }
        let judge = judge(server)
        let neither = #expect(throws: CriticError.self) { _ = try judge.judge(observation: Self.frames[0], plan: [Self.frames[1]], task: "t") }
        #expect(neither?.description.contains("neither Accept nor Reject") == true)
        let refused = #expect(throws: CriticError.self) { _ = try judge.judge(observation: Self.frames[0], plan: [Self.frames[1]], task: "t") }
        #expect(refused?.description.contains("HTTP 401") == true && refused?.description.contains("sk-secret") == false)
    }

    @Test("the descriptive prompt returns the model's sentence, at most 20 words, as the feedback")
    func descriptive() throws {
        let long = (1...30).map { "word\($0)" }.joined(separator: " ")
        let server = try ScriptedHTTPServer(replies: [Self.answer(long)])
        defer { server.stop() }
        let verdict = try judge(server, mode: .descriptive).judge(observation: Self.frames[0], plan: [Self.frames[1]], task: "t")
        #expect(!verdict.accept)
        #expect(verdict.feedbackSentence.split(separator: " ").count == 20)
    }
}
