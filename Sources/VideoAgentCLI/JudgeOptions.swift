import ArgumentParser
import Foundation
import VideoCritic

/// How a command chooses its plan judge: a learned critic, the motion rule, or a vision-language
/// model behind an OpenAI-compatible endpoint. One place, so serve, demo, eval and critique agree.
struct JudgeOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "The plan judge: a learned critic (model.safetensors from train-critic; the stages' default is the shipped models/builtin-critic), 'motion' (the stand-in rule), or 'vlm' (a vision chat endpoint: --vlm-url, --vlm-model).",
        valueName: "PATH|motion|vlm"))
    var critic: String?
    @Option(help: ArgumentHelp("The OpenAI-compatible API root of --critic vlm (e.g. https://api.openai.com/v1, http://localhost:11434/v1).",
                               valueName: "URL"))
    var vlmURL: String?
    @Option(help: "The model name of --critic vlm (e.g. gpt-4o).") var vlmModel: String?
    @Option(help: "binary (the paper's Accept/Reject prompt) or descriptive (a sentence of at most 20 words).") var vlmMode: String = "binary"
    @Option(help: ArgumentHelp("The environment variable holding the API key of --critic vlm (never printed).", valueName: "NAME"))
    var vlmKeyEnv: String = "OPENAI_API_KEY"

    func validate() throws {
        if critic == "vlm" {
            guard let vlmURL, let url = URL(string: vlmURL), ["http", "https"].contains(url.scheme ?? "") else {
                throw ValidationError("--critic vlm needs --vlm-url http(s)://HOST/…/v1 (the API root of an OpenAI-compatible endpoint)")
            }
            guard let vlmModel, !vlmModel.isEmpty else { throw ValidationError("--critic vlm needs --vlm-model NAME (e.g. gpt-4o)") }
            guard VisionChatJudge.Mode(rawValue: vlmMode) != nil else {
                throw ValidationError("--vlm-mode \(vlmMode): use binary or descriptive")
            }
        } else if vlmURL != nil || vlmModel != nil {
            throw ValidationError("--vlm-url and --vlm-model only apply to --critic vlm")
        }
    }

    /// The shipped learned critic when the checkout has it, else the motion rule: what a critic
    /// stage judges with unless told otherwise.
    static var shippedOrMotion: String {
        let shipped = "models/builtin-critic/model.safetensors"
        return FileManager.default.fileExists(atPath: shipped) ? shipped : "motion"
    }

    /// The judge chosen, `fallback` when none was, nil when neither.
    func judge(fallback: String? = nil) throws -> (any PlanJudge)? {
        switch critic ?? fallback {
        case nil: return nil
        case "motion": return MotionJudge()
        case "vlm":
            // validate() checked these.
            let key = ProcessInfo.processInfo.environment[vlmKeyEnv].flatMap { $0.isEmpty ? nil : $0 }
            return VisionChatJudge(endpoint: URL(string: vlmURL!)!, model: vlmModel!, apiKey: key, mode: VisionChatJudge.Mode(rawValue: vlmMode)!)
        case let path?:
            guard FileManager.default.fileExists(atPath: path) else {
                throw ValidationError("--critic \(path): no such file; give a critic from videoagent train-critic, 'motion' or 'vlm'")
            }
            return try LearnedJudge.load(path)
        }
    }
}
