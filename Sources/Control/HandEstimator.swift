import NN
import Tensor

/// Reads the robot's hand from a plan-resolution frame: (x, y, z, opening), in the scaled units of
/// ``FollowerInput/proprioception(_:)``.
///
/// Why: a plan frame shows *where the hand should be*, but the follower's own proprioception is a
/// number. Estimating the plan frame's hand in the same units gives the follower's policy an
/// explicit target beside the pixels. On 32 px plan frames it is off by about 3 cm, too coarse to
/// decide alone when a plan frame is reached (measured in docs/control.md), so it is an input only.
/// The labels are free: every frame `collect` records comes with the robot's own proprioception.
public final class HandEstimator: Module {
    let conv1: Conv2d
    let norm1: GroupNorm
    let conv2: Conv2d
    let norm2: GroupNorm
    let conv3: Conv2d
    let keypoints = SpatialSoftmax()
    let fc1: Linear
    let fc2: Linear

    public init(width: Int, hidden: Int, rng: inout SeededRNG) {
        conv1 = Conv2d(3, width, kernel: 3, stride: 1, rng: &rng)
        norm1 = GroupNorm(groups: min(8, width), channels: width)
        conv2 = Conv2d(width, 2 * width, kernel: 3, stride: 2, rng: &rng)
        norm2 = GroupNorm(groups: min(8, 2 * width), channels: 2 * width)
        conv3 = Conv2d(2 * width, 2 * width, kernel: 3, stride: 1, rng: &rng)
        fc1 = Linear(4 * width, hidden, rng: &rng)
        fc2 = Linear(hidden, 4, rng: &rng)
    }

    /// (N, 3, P, P) frames in [−1, 1] → (N, 4) hand estimates.
    public func callAsFunction(_ frames: Tensor) -> Tensor {
        var x = norm1(conv1(frames)).relu()
        x = norm2(conv2(x)).relu()
        x = keypoints(conv3(x))
        return fc2(fc1(x).relu())
    }
}
