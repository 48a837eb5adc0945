import Media
import Tensor

/// Converts between plan tensors and images.
public enum PlanFrames {
    /// Frames of row `row` of a plan (B, F, 3, H, W) in [−1, 1].
    public static func images(_ plan: Tensor, row: Int = 0) -> [RGBImage] {
        let (f, r) = (plan.shape[1], plan.shape[3])
        let values = plan.toArray()
        let frameSize = 3 * r * r
        return (0..<f).map { i in
            let start = (row * f + i) * frameSize
            return RGBImage(planarSigned: Array(values[start..<(start + frameSize)]), width: r, height: r)
        }
    }

    /// Every row's frames of a plan batch (B, F, 3, H, W).
    public static func rows(_ plan: Tensor) -> [[RGBImage]] {
        (0..<plan.shape[0]).map { images(plan, row: $0) }
    }

    /// An image as a (1, 3, side, side) tensor in [−1, 1], resized to `side`.
    public static func tensor(_ image: RGBImage, side: Int) -> Tensor {
        Tensor(shape: [1, 3, side, side], values: image.resized(width: side, height: side).planarSigned())
    }

    /// Frames as a (1, F, 3, side, side) tensor in [−1, 1].
    public static func tensor(_ images: [RGBImage], side: Int) -> Tensor {
        let values = images.flatMap { $0.resized(width: side, height: side).planarSigned() }
        return Tensor(shape: [1, images.count, 3, side, side], values: values)
    }
}
