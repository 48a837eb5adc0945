import Media

/// A robot task environment: seeded resets, actions in, camera frames and proprioception out.
///
/// Implementations: ``TabletopEnvironment`` (pure Swift, built in) and ``MetaWorldEnvironment``
/// (MetaWorld through a Python bridge). A real robot plugs in through the bridge's protocol.
public protocol Environment: AnyObject {
    /// A name for reports: "builtin", "metaworld", …
    var name: String { get }
    /// The tasks this environment offers.
    var tasks: [TaskInfo] { get }
    /// The camera viewpoints it can render.
    var cameras: [String] { get }
    /// Steps after which an episode is truncated.
    var maxSteps: Int { get }

    /// Starts an episode. The same task, seed and camera give the same episode.
    func reset(task: String, seed: UInt64, camera: String, resolution: Int) throws -> Observation

    /// Applies one action: (dx, dy, dz, grip), each in [−1, 1].
    func step(_ action: [Float]) throws -> StepResult

    /// Applies one action; with `frame` false the environment may leave the camera frame unrendered
    /// (``StepResult/rendered`` false: the observation holds the last frame rendered and fresh
    /// proprioception) — where frames cost far more than steps, a policy that will not look at the
    /// next frame says so. The default renders every step.
    func step(_ action: [Float], frame: Bool) throws -> StepResult

    /// The current state's observation, rendered now: after a step without a frame, when a frame
    /// is wanted after all (a new plan to draw, a rewound plan to follow).
    func render() throws -> Observation

    /// Adds a camera in the robot's hand to every observation from now on (``Observation/wrist``,
    /// `resolution` pixels square; 0 takes it away): a close, hand-centred view
    /// for contact, beside the scene camera the plans are drawn from, looking straight down from
    /// `height` metres above the fingertips (higher sees more of the scene around the hand, each
    /// pixel coarser; ``WristCamera/heights``). Environments without one throw
    /// ``EnvironmentError/noWristCamera(_:)``.
    func attachWristCamera(resolution: Int, height: Float) throws

    /// Releases what the environment holds (a child process, a connection).
    func close()
}

/// The scripted expert beside an environment: demonstrations and training labels only.
///
/// It reads the simulator's internal state (object poses), which is why it is not part of
/// ``Environment``: policies receive observations, never an environment or its demonstrator.
public protocol Demonstrator: AnyObject {
    /// The expert's action for the environment's current state.
    func action() throws -> [Float]

    /// Positions of the task's key points in the current state (x, y, z in metres, one point after
    /// another; the same number for every task of the environment), or nil when the environment
    /// cannot say. A training target for a follower's auxiliary head, never a policy's input.
    func landmarks() throws -> [Float]?

    /// How far the scene still is from the task's success, in metres of the task's own measure
    /// (the puck or block from its spot, the drawer's missing travel, the door handle's missing arc,
    /// the button's missing travel), 0 once it succeeded; nil when the environment cannot say.
    /// Evaluation and audit only: why a failed episode failed, never a policy's input.
    func shortfall() throws -> Float?
}

extension Environment {
    public func step(_ action: [Float], frame: Bool) throws -> StepResult { try step(action) }

    /// Environments that render every step are never asked: their frames are never stale.
    public func render() throws -> Observation { throw EnvironmentError.cannotRender(name) }

    public func attachWristCamera(resolution: Int, height: Float) throws {
        if resolution != 0 { throw EnvironmentError.noWristCamera(name) }
    }

    /// A wrist camera at the default height (``WristCamera/defaultHeight``).
    public func attachWristCamera(resolution: Int) throws {
        try attachWristCamera(resolution: resolution, height: WristCamera.defaultHeight)
    }
}

/// Where the camera in the robot's hand sits.
public enum WristCamera {
    /// Metres above the fingertips; every follower and dataset from before the height was an option used it.
    public static let defaultHeight: Float = 0.10
    /// Heights a camera may be attached at, metres.
    public static let heights: ClosedRange<Float> = 0.03...0.5

    /// Whether two heights (as stored in checkpoints and episodes, rounded through text) place the camera alike.
    public static func sameHeight(_ a: Float, _ b: Float) -> Bool { abs(a - b) < 1e-4 }
}

extension Demonstrator {
    public func shortfall() throws -> Float? { nil }
}

/// An environment that has a scripted expert.
public protocol DemonstrableEnvironment: Environment {
    /// The expert of this environment, following whatever episode it is in. `slack` (metres)
    /// loosens how precisely it lines up before making contact: a teacher for a learned policy,
    /// whose aim is only that precise, should not keep pulling back to line up again.
    func makeDemonstrator(slack: Float) -> any Demonstrator

    /// Runs `body` from the current state with a fresh step budget (a branch is an episode of its
    /// own), then restores the state, step count included, whatever `body` did: a collector plays
    /// the expert on from a state a learned policy reached, then lets the policy go on from there.
    /// Training-time only, like the demonstrator. Environments that cannot set their state aside
    /// (the MetaWorld bridge) throw ``EnvironmentError/cannotBranch(_:)``.
    func branch<T>(_ body: () throws -> T) throws -> T
}

extension DemonstrableEnvironment {
    public func branch<T>(_ body: () throws -> T) throws -> T { throw EnvironmentError.cannotBranch(name) }

    /// The expert at the demonstrations' own precision.
    public func makeDemonstrator() -> any Demonstrator { makeDemonstrator(slack: 0) }
}

/// A task: its identifier and the instruction a planner receives.
public struct TaskInfo: Sendable, Equatable, Codable {
    public var name: String
    public var instruction: String
    /// Reported separately as the "hard" subset.
    public var isHard: Bool

    public init(name: String, instruction: String, isHard: Bool) {
        self.name = name
        self.instruction = instruction
        self.isHard = isHard
    }
}

/// What the robot perceives: a camera frame, its own proprioception and, when the environment
/// has one attached, the frame of the camera in its hand.
public struct Observation: Sendable {
    public var frame: RGBImage
    /// End-effector position (x, y, z) and gripper opening (0 closed … 1 open).
    public var proprioception: [Float]
    /// The wrist camera's frame (``Environment/attachWristCamera(resolution:)``), or nil.
    public var wrist: RGBImage?

    public init(frame: RGBImage, proprioception: [Float], wrist: RGBImage? = nil) {
        self.frame = frame
        self.proprioception = proprioception
        self.wrist = wrist
    }
}

public struct StepResult: Sendable {
    public var observation: Observation
    /// The environment says the task is done.
    public var success: Bool
    /// The episode ended because of the task (success, or an unrecoverable state).
    public var terminated: Bool
    /// The episode ended because the step limit was reached.
    public var truncated: Bool
    /// The observation's frame was rendered for this step (false: the last frame rendered, after
    /// ``Environment/step(_:frame:)`` was told no one would look).
    public var rendered: Bool

    public init(observation: Observation, success: Bool, terminated: Bool, truncated: Bool, rendered: Bool = true) {
        self.observation = observation
        self.success = success
        self.terminated = terminated
        self.truncated = truncated
        self.rendered = rendered
    }
}

public enum EnvironmentError: Error, CustomStringConvertible, Equatable, Sendable {
    case unknownTask(String, known: [String])
    case unknownCamera(String, known: [String])
    case invalidAction(String)
    case invalidResolution(Int)
    case invalidWristHeight(Float)
    case notReset
    case bridge(String)
    case cannotBranch(String)
    case cannotRender(String)
    case noWristCamera(String)

    public var description: String {
        switch self {
        case .unknownTask(let name, let known): return "unknown task '\(name)'; known tasks: \(known.joined(separator: ", "))"
        case .unknownCamera(let name, let known):
            return "unknown camera '\(name)'; known cameras: \(known.joined(separator: ", "))"
        case .invalidAction(let detail): return "invalid action: \(detail)"
        case .invalidResolution(let r): return "resolution \(r) is out of range; use 8 to 512 pixels"
        case .invalidWristHeight(let h):
            return "wrist camera height \(h) m is out of range; use \(WristCamera.heights.lowerBound) to \(WristCamera.heights.upperBound) m above the fingertips"
        case .notReset: return "step() before reset(): start an episode first"
        case .bridge(let detail): return "environment bridge: \(detail)"
        case .cannotBranch(let name):
            return "\(name) cannot set its state aside and put it back, so the expert cannot play on from a policy's states "
                + "there; collect branches in the built-in suite (--env builtin)"
        case .cannotRender(let name):
            return "\(name) renders a frame with every step and cannot render one on demand"
        case .noWristCamera(let name):
            return "\(name) has no wrist camera; a follower trained with one (train-follower --wrist) runs in the built-in suite "
                + "(--env builtin)"
        }
    }
}

/// Checks an action has 4 finite components in [−1, 1].
func validate(_ action: [Float]) throws {
    guard action.count == 4 else {
        throw EnvironmentError.invalidAction("expected 4 values (dx, dy, dz, grip), got \(action.count)")
    }
    for (i, value) in action.enumerated() where !value.isFinite || value < -1 || value > 1 {
        throw EnvironmentError.invalidAction("component \(i) is \(value); every component must be in [-1, 1]")
    }
}
