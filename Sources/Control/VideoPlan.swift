import Media

/// A video plan as the robot follows it: the frame it was made from, then the future frames,
/// at the plan model's resolution.
public struct VideoPlan: Sendable {
    /// `frames[0]` is the observation the plan starts from; `frames[1...]` are the plan proper.
    public var frames: [RGBImage]
    /// What made it, for records and reports: "oracle", "model step 3000, iteration 2", …
    public var source: String

    public init(frames: [RGBImage], source: String) {
        precondition(frames.count >= 2, "a plan needs its first frame and at least one future frame")
        self.frames = frames
        self.source = source
    }

    /// The index of the last frame.
    public var lastIndex: Int { frames.count - 1 }
}
