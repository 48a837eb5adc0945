// 2× average pooling and 2× nearest upsampling over the last two dimensions (H, W); leading
// dimensions are batch-like.

extension Tensor {
    /// Averages each 2×2 block: (…, H, W) → (…, H/2, W/2). H and W must be even.
    public func avgPool2x() -> Tensor {
        precondition(rank >= 2 && shape[rank - 2] % 2 == 0 && shape[rank - 1] % 2 == 0,
                     "avgPool2x needs even H and W, got \(shape)")
        let (h, w) = (shape[rank - 2], shape[rank - 1])
        let planes = count / (h * w)
        let (ho, wo) = (h / 2, w / 2)
        let out = Tensor.empty(Array(shape.dropLast(2)) + [ho, wo])
        let px = SharedPointer(storage.pointer), po = SharedPointer(out.storage.pointer)
        parallelFor(planes, minimumPerWorker: max(1, 32_768 / (h * w))) { range in
            for p in range {
                let x = px + p * h * w, y = po + p * ho * wo
                for oy in 0..<ho {
                    let r0 = x + 2 * oy * w, r1 = r0 + w, o = y + oy * wo
                    for ox in 0..<wo { o[ox] = 0.25 * (r0[2 * ox] + r0[2 * ox + 1] + r1[2 * ox] + r1[2 * ox + 1]) }
                }
            }
        }
        return Tensor.result(out, inputs: [self]) { g in
            let gx = Tensor.empty(self.shape)
            let pg = SharedPointer(g.storage.pointer), pgx = SharedPointer(gx.storage.pointer)
            parallelFor(planes, minimumPerWorker: max(1, 32_768 / (h * w))) { range in
                for p in range {
                    let d = pgx + p * h * w, s = pg + p * ho * wo
                    for iy in 0..<h {
                        let row = d + iy * w, src = s + (iy / 2) * wo
                        for ix in 0..<w { row[ix] = 0.25 * src[ix / 2] }
                    }
                }
            }
            self.accumulateGrad(gx)
        }
    }

    /// Repeats each pixel 2×2: (…, H, W) → (…, 2H, 2W).
    public func upsampleNearest2x() -> Tensor {
        precondition(rank >= 2, "upsampleNearest2x needs (…, H, W), got \(shape)")
        let (h, w) = (shape[rank - 2], shape[rank - 1])
        let planes = count / max(1, h * w)
        let (ho, wo) = (h * 2, w * 2)
        let out = Tensor.empty(Array(shape.dropLast(2)) + [ho, wo])
        let px = SharedPointer(storage.pointer), po = SharedPointer(out.storage.pointer)
        parallelFor(planes, minimumPerWorker: max(1, 32_768 / max(1, ho * wo))) { range in
            for p in range {
                let x = px + p * h * w, y = po + p * ho * wo
                for oy in 0..<ho {
                    let src = x + (oy / 2) * w, o = y + oy * wo
                    for ox in 0..<wo { o[ox] = src[ox / 2] }
                }
            }
        }
        return Tensor.result(out, inputs: [self]) { g in
            let gx = Tensor.empty(self.shape)
            let pg = SharedPointer(g.storage.pointer), pgx = SharedPointer(gx.storage.pointer)
            parallelFor(planes, minimumPerWorker: max(1, 32_768 / max(1, ho * wo))) { range in
                for p in range {
                    let d = pgx + p * h * w, s = pg + p * ho * wo
                    for iy in 0..<h {
                        let r0 = s + 2 * iy * wo, r1 = r0 + wo, o = d + iy * w
                        for ix in 0..<w { o[ix] = r0[2 * ix] + r0[2 * ix + 1] + r1[2 * ix] + r1[2 * ix + 1] }
                    }
                }
            }
            self.accumulateGrad(gx)
        }
    }
}
