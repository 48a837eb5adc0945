import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Media

/// A plan judge that asks a vision-language model through an OpenAI-compatible chat endpoint
/// (OpenAI's GPT-4o, Gemini's compatible API, vLLM, Ollama): the paper's critic.
///
/// Two prompts, as in the paper: a strict Accept/Reject question, and a request for one
/// descriptive sentence of at most 20 words (then the verdict is "reject" with that sentence).
/// Frames go as base64 PNG data URLs — the observation and every plan frame, the last one too.
/// Its accuracy is not measured here: no vision-language model runs on these machines.
public struct VisionChatJudge: PlanJudge {
    public enum Mode: String, Sendable { case binary, descriptive }

    /// The API root, e.g. https://api.openai.com/v1 or http://localhost:11434/v1 (Ollama).
    public var endpoint: URL
    public var model: String
    /// Sent as a bearer token; never logged or shown in errors.
    public var apiKey: String?
    public var mode: Mode
    public var timeout: TimeInterval = 60
    /// Attempts on timeouts, HTTP 429 and 5xx.
    public var attempts = 4
    /// Wait before the second attempt, doubled for each further one (or the server's Retry-After).
    public var backoff: TimeInterval = 1

    public init(endpoint: URL, model: String, apiKey: String?, mode: Mode = .binary) {
        self.endpoint = endpoint
        self.model = model
        self.apiKey = apiKey
        self.mode = mode
    }

    public var name: String { "vlm:\(model)" }

    static let binaryPrompt = """
        You review short video plans for a robot arm. The first image is the camera frame the plan starts \
        from; the following images are the plan's frames in order. Check every frame: the motion must be \
        smooth and physically possible (nothing moves unless the gripper moves it), the scene must stay \
        consistent with the first image, and the last frame must show the task completed. Be strict: \
        reject the plan for the slightest error. Answer with one word, Accept or Reject, and nothing else.
        """

    static let descriptivePrompt = """
        You review short video plans for a robot arm. The first image is the camera frame the plan starts \
        from; the following images are the plan's frames in order. In one sentence of at most 20 words, \
        say what is wrong with the plan and how the robot should move instead.
        """

    public func judge(observation: RGBImage, plan: [RGBImage], task: String) throws -> PlanVerdict {
        let answer = try ask(images: [observation] + plan, task: task)
        switch mode {
        case .binary:
            let word = answer.trimmingCharacters(in: .whitespacesAndNewlines).prefix { $0.isLetter }.lowercased()
            switch word {
            case "accept": return PlanVerdict(acceptProbability: 1, accept: true, frameScores: plan.map { _ in 1 }, feedback: .ok)
            case "reject": return PlanVerdict(acceptProbability: 0, accept: false, frameScores: plan.map { _ in 0 }, feedback: .incomplete)
            default:
                throw CriticError("\(model) answered neither Accept nor Reject: \"\(answer.prefix(80))\"; use a model that follows "
                    + "instructions, or the descriptive mode")
            }
        case .descriptive:
            let words = answer.split(whereSeparator: \.isWhitespace).prefix(20).joined(separator: " ")
            guard !words.isEmpty else { throw CriticError("\(model) gave an empty description") }
            var verdict = PlanVerdict(acceptProbability: 0, accept: false, frameScores: plan.map { _ in 0 }, feedback: .incomplete)
            verdict.sentence = words
            return verdict
        }
    }

    /// One chat completion; retried on timeouts, 429 and 5xx.
    func ask(images: [RGBImage], task: String) throws -> String {
        var content: [[String: Any]] = [["type": "text", "text": "The task: \(task)."]]
        for image in images {
            content.append(["type": "image_url", "image_url": ["url": "data:image/png;base64," + (try PNG.base64(image))]])
        }
        let body: [String: Any] = [
            "model": model, "temperature": 0, "max_tokens": mode == .binary ? 5 : 60,
            "messages": [["role": "system", "content": mode == .binary ? Self.binaryPrompt : Self.descriptivePrompt],
                         ["role": "user", "content": content]],
        ]
        var request = URLRequest(url: endpoint.appendingPathComponent("chat/completions"))
        request.httpMethod = "POST"
        request.timeoutInterval = timeout
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        if let apiKey { request.setValue("Bearer \(apiKey)", forHTTPHeaderField: "Authorization") }
        request.httpBody = try JSONSerialization.data(withJSONObject: body)
        var wait = backoff
        var lastProblem = ""
        for attempt in 1...max(1, attempts) {
            let (data, status, retryAfter, failure) = Self.send(request, timeout: timeout)
            if let failure {
                lastProblem = failure
            } else if status == 200 {
                guard let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                      let choices = json["choices"] as? [[String: Any]],
                      let message = choices.first?["message"] as? [String: Any], let text = message["content"] as? String
                else { throw CriticError("\(endpoint.host ?? "the endpoint") answered without choices[0].message.content") }
                return text
            } else if status == 429 || status >= 500 {
                lastProblem = "HTTP \(status)"
                if let retryAfter { wait = max(wait, retryAfter) }
            } else {
                let detail = String(decoding: data.prefix(300), as: UTF8.self)
                throw CriticError("\(endpoint.host ?? "the endpoint") refused the request: HTTP \(status): \(detail)"
                    + (status == 401 ? " (check the API key variable)" : ""))
            }
            if attempt < attempts {
                Thread.sleep(forTimeInterval: wait)
                wait *= 2
            }
        }
        throw CriticError("\(endpoint.host ?? "the endpoint") failed \(attempts) time(s); last: \(lastProblem)")
    }

    /// A blocking request: the body, the status, Retry-After in seconds, or why it failed.
    static func send(_ request: URLRequest, timeout: TimeInterval) -> (Data, Int, TimeInterval?, String?) {
        let done = DispatchSemaphore(value: 0)
        let outcome = Outcome()
        let task = URLSession.shared.dataTask(with: request) { data, response, error in
            outcome.set(data ?? Data(), (response as? HTTPURLResponse), error)
            done.signal()
        }
        task.resume()
        if done.wait(timeout: .now() + timeout + 1) == .timedOut {
            task.cancel()
            return (Data(), 0, nil, "no answer within \(Int(timeout)) s")
        }
        let (data, response, error) = outcome.get()
        if let error { return (Data(), 0, nil, (error as NSError).code == NSURLErrorTimedOut ? "no answer within \(Int(timeout)) s" : "\(error.localizedDescription)") }
        let retryAfter = (response?.value(forHTTPHeaderField: "Retry-After")).flatMap(TimeInterval.init)
        return (data, response?.statusCode ?? 0, retryAfter, nil)
    }
}

/// A request's result, handed from URLSession's thread to the waiting one.
private final class Outcome: @unchecked Sendable {
    private let lock = NSLock()
    private var value: (Data, HTTPURLResponse?, (any Error)?) = (Data(), nil, nil)
    func set(_ data: Data, _ response: HTTPURLResponse?, _ error: (any Error)?) { lock.withLock { value = (data, response, error) } }
    func get() -> (Data, HTTPURLResponse?, (any Error)?) { lock.withLock { value } }
}

public struct CriticError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
