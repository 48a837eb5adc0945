import Media
import SeededRandom

/// The built-in tabletop suite: a gripper over a table and six tasks mirroring MetaWorld's
/// families, simulated and rendered in pure Swift (no Python, no GL), deterministic for a seed.
///
/// Action: (dx, dy, dz, grip) in [−1, 1]; a full step moves the tip 2 cm, grip −1 closes and +1
/// opens the fingers. Observation: an RGB frame from the chosen camera and (x, y, z, opening), and
/// with a wrist camera attached, its frame: looking straight down from above the fingertips (10 cm
/// by default; a camera on the arm; the robot's own body is not drawn in it), 90° wide, world axes aligned
/// with the image (x to the right, y up), so at pushing height a 64 px frame from 10 cm covers 23 cm of table
/// at 3.6 mm a pixel (from 20 cm: 43 cm at 6.7 mm) where the scene cameras' pixel covers about 12 mm. An episode terminates on success and is truncated after ``maxSteps``.
public final class TabletopEnvironment: DemonstrableEnvironment {
    public let name = "builtin"
    public let maxSteps: Int
    public var tasks: [TaskInfo] { Self.registry.map { $0.info } }
    public let cameras = ["corner", "corner2", "corner3", "topdown"]

    /// Every task of the suite, in report order.
    static let registry: [any TabletopTask.Type] = [
        ButtonPress.self, DrawerOpen.self, Push.self, DoorOpen.self, PickPlace.self, PutInDrawer.self,
    ]

    private var task: (any TabletopTask)?
    private var gripper = Gripper(position: .zero)
    private var camera = Camera(eye: Vec3(1, 1, 1), target: .zero)
    private var resolution = 64
    private var steps = 0
    private let renderer = Renderer()
    /// The last frame rendered, handed out again by steps without a frame.
    private var lastFrame: RGBImage?
    /// Pixels of the wrist camera's frames; 0: none.
    private var wristResolution = 0
    /// How far above the fingertips the wrist camera looks down from, metres.
    private var wristHeight = WristCamera.defaultHeight
    private var lastWrist: RGBImage?
    private let wristRenderer = Renderer()

    public init(maxSteps: Int = 200) { self.maxSteps = maxSteps }

    public func reset(task name: String, seed: UInt64, camera cameraName: String, resolution: Int) throws -> Observation {
        guard let type = Self.registry.first(where: { $0.info.name == name }) else {
            throw EnvironmentError.unknownTask(name, known: tasks.map(\.name))
        }
        guard let camera = Self.camera(cameraName) else { throw EnvironmentError.unknownCamera(cameraName, known: cameras) }
        guard (8...512).contains(resolution) else { throw EnvironmentError.invalidResolution(resolution) }
        var rng = SeededRNG(seed: seed)
        let task = type.init(rng: &rng)
        self.task = task
        gripper = Gripper(position: task.gripperStart, opening: 1)
        self.camera = camera
        self.resolution = resolution
        steps = 0
        return observe()
    }

    public func step(_ action: [Float]) throws -> StepResult { try step(action, frame: true) }

    public func step(_ action: [Float], frame: Bool) throws -> StepResult {
        guard var task else { throw EnvironmentError.notReset }
        try validate(action)
        let previous = gripper
        moveGripper(&gripper, action: action, solids: task.solids)
        task.interact(gripper: &gripper, previous: previous)
        self.task = task
        steps += 1
        let success = task.isSuccess
        let observation = frame ? observe() : Observation(frame: lastFrame!, proprioception: proprioception, wrist: lastWrist)
        return StepResult(observation: observation, success: success, terminated: success, truncated: !success && steps >= maxSteps,
                          rendered: frame)
    }

    public func render() throws -> Observation {
        guard task != nil else { throw EnvironmentError.notReset }
        return observe()
    }

    public func attachWristCamera(resolution: Int, height: Float) throws {
        guard resolution == 0 || (8...512).contains(resolution) else { throw EnvironmentError.invalidResolution(resolution) }
        guard WristCamera.heights.contains(height) else { throw EnvironmentError.invalidWristHeight(height) }
        wristResolution = resolution
        wristHeight = height
    }

    public func makeDemonstrator(slack: Float) -> any Demonstrator { TabletopDemonstrator(environment: self, slack: slack) }

    public func branch<T>(_ body: () throws -> T) throws -> T {
        // Tasks and the gripper are values: copying them (and the last frame) is the whole snapshot.
        let saved = (task, gripper, steps, lastFrame, lastWrist)
        defer { (task, gripper, steps, lastFrame, lastWrist) = saved }
        steps = 0
        return try body()
    }

    fileprivate func landmarks() throws -> [Float] {
        guard let task else { throw EnvironmentError.notReset }
        let points = task.landmarks
        precondition(points.count == TabletopLandmarks.count, "\(type(of: task)) must give \(TabletopLandmarks.count) landmarks")
        return points.flatMap { [$0.x, $0.y, $0.z] }
    }

    fileprivate func shortfall() throws -> Float {
        guard let task else { throw EnvironmentError.notReset }
        return task.isSuccess ? 0 : max(0, task.shortfall)
    }

    fileprivate func expertAction(slack: Float) throws -> [Float] {
        guard let task else { throw EnvironmentError.notReset }
        return task.expertAction(gripper: gripper, slack: slack).map { min(max($0, -1), 1) }
    }

    public func close() {}

    /// Whether the current episode's task is done (without stepping).
    public var isSuccess: Bool { task?.isSuccess ?? false }

    private func observe() -> Observation {
        var scene: [Primitive] = [.box(tableTop)]
        scene += task?.primitives ?? []
        scene.append(shadow(x: gripper.position.x, y: gripper.position.y, radius: 0.03, height: gripper.position.z))
        scene += gripper.primitives()
        let frame = renderer.render(scene, camera: camera, resolution: resolution)
        lastFrame = frame
        lastWrist = nil
        if wristResolution > 0 {
            let tip = gripper.position
            let view = Camera(eye: tip + Vec3(0, 0, wristHeight), target: tip, fieldOfViewDegrees: 90, near: 0.005, clipsNear: true)
            // The table, the task's objects and the shadow of the hand: what lies below the camera.
            lastWrist = wristRenderer.render(Array(scene.dropLast(gripper.primitives().count)), camera: view, resolution: wristResolution)
        }
        return Observation(frame: frame, proprioception: proprioception, wrist: lastWrist)
    }

    private var proprioception: [Float] {
        let p = gripper.position
        return [p.x, p.y, p.z, gripper.opening]
    }

    /// The viewpoints: two front corners, the back, and straight down.
    static func camera(_ name: String) -> Camera? {
        let target = Vec3(0, 0.13, 0.05)
        switch name {
        case "corner": return Camera(eye: Vec3(0.55, -0.38, 0.48), target: target, fieldOfViewDegrees: 52)
        case "corner2": return Camera(eye: Vec3(-0.55, -0.38, 0.48), target: target, fieldOfViewDegrees: 52)
        case "corner3": return Camera(eye: Vec3(0.0, -0.55, 0.38), target: Vec3(0, 0.14, 0.06), fieldOfViewDegrees: 55)
        case "topdown": return Camera(eye: Vec3(0, 0.11, 0.95), target: Vec3(0, 0.11, 0), fieldOfViewDegrees: 50)
        default: return nil
        }
    }
}

/// The built-in tasks' scripted experts, reading the simulation's state.
final class TabletopDemonstrator: Demonstrator {
    private unowned let environment: TabletopEnvironment
    private let slack: Float
    init(environment: TabletopEnvironment, slack: Float) {
        self.environment = environment
        self.slack = slack
    }
    func action() throws -> [Float] { try environment.expertAction(slack: slack) }
    func landmarks() throws -> [Float]? { try environment.landmarks() }
    func shortfall() throws -> Float? { try environment.shortfall() }
}
