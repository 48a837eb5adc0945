// Losses, each reduced to the mean over all elements (or samples).

extension Tensor {
    /// Mean of (prediction − target)².
    public static func mseLoss(_ prediction: Tensor, _ target: Tensor) -> Tensor {
        precondition(prediction.shape == target.shape, "mseLoss: \(prediction.shape) vs \(target.shape)")
        return (prediction - target).square().mean()
    }

    /// Mean of |prediction − target|.
    public static func l1Loss(_ prediction: Tensor, _ target: Tensor) -> Tensor {
        precondition(prediction.shape == target.shape, "l1Loss: \(prediction.shape) vs \(target.shape)")
        return (prediction - target).abs().mean()
    }

    /// Binary cross-entropy on logits, mean over elements: max(x,0) − x·t + log(1 + e^−|x|).
    public static func bceWithLogitsLoss(_ logits: Tensor, _ targets: Tensor) -> Tensor {
        precondition(logits.shape == targets.shape, "bceWithLogitsLoss: \(logits.shape) vs \(targets.shape)")
        let n = logits.count
        let px = logits.storage.pointer, pt = targets.storage.pointer
        var total: Double = 0
        for i in 0..<n {
            let x = px[i], t = pt[i]
            total += Double(max(x, 0) - x * t + Foundation.log1p(Foundation.exp(-Swift.abs(x))))
        }
        let out = Tensor(scalar: Float(total / Double(max(1, n))))
        return result(out, inputs: [logits, targets]) { g in
            let scale = g.item / Float(max(1, n))
            if logits.requiresGrad {
                let gx = Tensor.empty(logits.shape)
                for i in 0..<n { gx.storage.pointer[i] = (stableSigmoid(px[i]) - pt[i]) * scale }
                logits.accumulateGrad(gx)
            }
            if targets.requiresGrad {
                let gt = Tensor.empty(targets.shape)
                for i in 0..<n { gt.storage.pointer[i] = -px[i] * scale }
                targets.accumulateGrad(gt)
            }
        }
    }

    /// Cross-entropy of logits (N, K) against class labels, mean over the N samples.
    public static func crossEntropyLoss(_ logits: Tensor, labels: [Int]) -> Tensor {
        precondition(logits.rank == 2 && logits.shape[0] == labels.count,
                     "crossEntropyLoss: logits \(logits.shape) for \(labels.count) labels")
        let k = logits.shape[1]
        for label in labels { precondition(label >= 0 && label < k, "label \(label) outside 0..<\(k)") }
        let logProbabilities = logits.logSoftmax()
        let mask = Tensor.zeros(logits.shape)
        for (row, label) in labels.enumerated() { mask.storage.pointer[row * k + label] = -1 / Float(labels.count) }
        return (logProbabilities * mask).sum()
    }
}

import Foundation
