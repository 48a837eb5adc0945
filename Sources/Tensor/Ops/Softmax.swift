extension Tensor {
    /// Softmax over the last dimension.
    public func softmax() -> Tensor {
        let d = shape.last ?? 1
        let rows = count / max(1, d)
        let out = Tensor.empty(shape)
        let px = SharedPointer(storage.pointer), po = SharedPointer(out.storage.pointer)
        parallelFor(rows, minimumPerWorker: max(1, 16_384 / max(1, d))) { range in
            for r in range {
                let x = px + r * d, y = po + r * d
                var m = -Float.infinity
                for j in 0..<d { m = max(m, x[j]) }
                var total: Float = 0
                for j in 0..<d { y[j] = Foundation.exp(x[j] - m); total += y[j] }
                let inv = 1 / total
                for j in 0..<d { y[j] *= inv }
            }
        }
        return Tensor.result(out, inputs: [self]) { g in
            // dx = y · (dy − Σ dy·y)
            let gx = Tensor.empty(self.shape)
            let pg = SharedPointer(g.storage.pointer), pgx = SharedPointer(gx.storage.pointer)
            parallelFor(rows, minimumPerWorker: max(1, 16_384 / max(1, d))) { range in
                for r in range {
                    let y = po + r * d, dy = pg + r * d, dx = pgx + r * d
                    var dot: Float = 0
                    for j in 0..<d { dot += dy[j] * y[j] }
                    for j in 0..<d { dx[j] = y[j] * (dy[j] - dot) }
                }
            }
            self.accumulateGrad(gx)
        }
    }

    /// log(softmax) over the last dimension, computed stably.
    public func logSoftmax() -> Tensor {
        let d = shape.last ?? 1
        let rows = count / max(1, d)
        let out = Tensor.empty(shape)
        let px = SharedPointer(storage.pointer), po = SharedPointer(out.storage.pointer)
        for r in 0..<rows {
            let x = px + r * d, y = po + r * d
            var m = -Float.infinity
            for j in 0..<d { m = max(m, x[j]) }
            var total: Float = 0
            for j in 0..<d { total += Foundation.exp(x[j] - m) }
            let logTotal = m + Foundation.log(total)
            for j in 0..<d { y[j] = x[j] - logTotal }
        }
        return Tensor.result(out, inputs: [self]) { g in
            // dx = dy − softmax · Σ dy
            let gx = Tensor.empty(self.shape)
            let pg = g.storage.pointer, pgx = gx.storage.pointer
            for r in 0..<rows {
                let y = po + r * d, dy = pg + r * d, dx = pgx + r * d
                var total: Float = 0
                for j in 0..<d { total += dy[j] }
                for j in 0..<d { dx[j] = dy[j] - Foundation.exp(y[j]) * total }
            }
            self.accumulateGrad(gx)
        }
    }

    /// Scaled dot-product attention: softmax(q·kᵀ / √D) · v, for q (…, Lq, D), k (…, Lk, D),
    /// v (…, Lk, Dv); leading dimensions (batch, heads) must match.
    public static func scaledDotProductAttention(query q: Tensor, key k: Tensor, value v: Tensor) -> Tensor {
        precondition(q.rank >= 2 && q.shape.last == k.shape.last && k.shape.dropLast() == v.shape.dropLast(),
                     "attention: query \(q.shape), key \(k.shape) and value \(v.shape) do not fit")
        let scale = 1 / Float(q.shape.last!).squareRoot()
        let scores = matmul(q, k, transposeB: true).scaled(scale)  // (…, Lq, Lk)
        return matmul(scores.softmax(), v)  // (…, Lq, Dv)
    }
}

import Foundation
