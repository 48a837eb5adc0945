import Tensor

/// Spatial soft-argmax (Levine, Finn et al. 2016): each channel of (N, C, H, W) becomes the
/// expected (x, y) of its softmax over positions, in [−1, 1]: (N, 2C), x then y per channel.
/// Keypoints a policy can regress on: where things are, precisely, with no parameters.
public final class SpatialSoftmax: UnaryLayer {
    public init() {}

    public func callAsFunction(_ x: Tensor) -> Tensor {
        precondition(x.rank == 4, "SpatialSoftmax takes (N, C, H, W), got \(x.shape)")
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        var grid = [Float](repeating: 0, count: h * w * 2)
        for y in 0..<h {
            for xIndex in 0..<w {
                let i = y * w + xIndex
                grid[2 * i] = w > 1 ? Float(xIndex) / Float(w - 1) * 2 - 1 : 0
                grid[2 * i + 1] = h > 1 ? Float(y) / Float(h - 1) * 2 - 1 : 0
            }
        }
        let attention = x.reshaped([n, c, h * w]).softmax()  // (N, C, HW)
        return Tensor.matmul(attention, Tensor(shape: [h * w, 2], values: grid)).reshaped([n, 2 * c])  // (N, C, 2) → (N, 2C)
    }
}
