// Convolution along the frame axis, for (2+1)-D factorised video convolutions.
//
// x (B, F, Ci, S…), weight (Co, Ci, k), bias (Co) → (B, F, Co, S…), zero-padded to keep F
// ("same" padding, k odd). For each frame f:  out[f] = Σ_j W_j · x[f + j − k/2], W_j = weight[:, :, j].
//
// The frames a tap reads are consecutive in memory (frame-major layout), so the k taps of one
// output frame are one product with the taps stacked: out[f] = [W_0 … W_{k−1}] · [x[f−k/2]; …; x[f+k/2]]
// with inner dimension k·Ci, instead of k products that each re-read and re-write out[f]. At the
// first and last frames the taps that fall outside the clip are left off the ends of the stack.
// The input gradient is the same product with the taps flipped and transposed, and the weight
// gradient one product per frame into the stacked (Co, k·Ci) gradient.

extension Tensor {
    public static func temporalConv(_ x: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
        precondition(x.rank >= 3 && weight.rank == 3 && x.shape[2] == weight.shape[1] && weight.shape[2] % 2 == 1,
                     "temporalConv: input \(x.shape) (B, F, Ci, …) does not fit weight \(weight.shape) (Co, Ci, odd k)")
        let (b, f, ci) = (x.shape[0], x.shape[1], x.shape[2])
        let s = x.shape[3...].reduce(1, *)
        let (co, k) = (weight.shape[0], weight.shape[2])
        if let bias { precondition(bias.shape == [co], "temporalConv: bias \(bias.shape) for \(co) channels") }
        let clip = FrameStack(frames: f, taps: k)
        // Stacked taps (Co, k·Ci): row o is [W_0[o, :], W_1[o, :], …].
        let stacked = weight.detached().permuted([0, 2, 1])
        let out = Tensor.empty([b, f, co] + Array(x.shape[3...]))
        clip.convolve(x.storage.pointer, channels: ci, clips: b, positions: s, taps: stacked.storage.pointer, outChannels: co,
                      bias: bias?.storage.pointer, into: out.storage.pointer)
        let inputs = bias.map { [x, weight, $0] } ?? [x, weight]
        return result(out, inputs: inputs) { g in
            let pg = g.storage.pointer
            if x.requiresGrad {
                // gx[f] = Σ_j W_{k−1−j}ᵀ · g[f + j − k/2]: the forward product with flipped, transposed taps.
                let flipped = Tensor.empty([ci, k * co])
                let (pw, pf) = (weight.storage.pointer, flipped.storage.pointer)
                for i in 0..<ci { for j in 0..<k { for o in 0..<co { pf[(i * k + j) * co + o] = pw[(o * ci + i) * k + (k - 1 - j)] } } }
                let gx = Tensor.empty(x.shape)
                clip.convolve(pg, channels: co, clips: b, positions: s, taps: pf, outChannels: ci, bias: nil,
                              into: gx.storage.pointer)
                x.accumulateGrad(gx)
            }
            if weight.requiresGrad {
                let gStacked = clip.tapGradient(g: pg, outChannels: co, x: x.storage.pointer, channels: ci, clips: b, positions: s)
                weight.accumulateGrad(gStacked.reshaped([co, k, ci]).permuted([0, 2, 1]))
            }
            if let bias, bias.requiresGrad {
                let gb = Tensor.zeros([co])
                let p = gb.storage.pointer
                for bf in 0..<(b * f) { for c in 0..<co { let row = pg + (bf * co + c) * s; p[c] += sumOf(row, count: s) } }
                bias.accumulateGrad(gb)
            }
        }
    }
}

/// Which taps of a k-tap kernel each frame of an F-frame clip uses, and the products over them.
private struct FrameStack {
    let frames: Int
    let taps: Int

    /// Taps j whose source frame f + j − k/2 lies in the clip (a contiguous range).
    func validTaps(_ frame: Int) -> Range<Int> {
        let half = taps / 2
        return max(0, half - frame)..<min(taps, frames - frame + half)
    }

    /// out[c, f] (Co, S) = A[:, taps of f] · [x[c, f + j − k/2] for those taps] (+ bias) for every clip c
    /// and frame f, where A is (Co, k·Ci) and x is (clips, F, Ci, S). The products are spread evenly
    /// over the cores: whole frames when there are many, column blocks of each frame otherwise
    /// (seven frames on two cores would leave one core idle an eighth of the time).
    func convolve(_ x: UnsafeMutablePointer<Float>, channels ci: Int, clips: Int, positions s: Int,
                  taps a: UnsafeMutablePointer<Float>, outChannels co: Int, bias: UnsafeMutablePointer<Float>?,
                  into out: UnsafeMutablePointer<Float>) {
        let count = clips * frames
        let workers = Parallelism.workers
        let heavy = co * ci * taps * s >= 1 << 16  // per frame; below this, threads cost more than they save
        let splits = workers > 1 && heavy && count < 4 * workers && count % workers != 0 ? workers : 1
        let items = count * splits
        let (px, pa, po) = (SharedPointer(x), SharedPointer(a), SharedPointer(out))
        let pb = bias.map { SharedPointer($0) }
        let lda = taps * ci
        let run: @Sendable (Range<Int>) -> Void = { range in
            for item in range {
                let (frame, part) = (item / splits, item % splits)
                let (clip, fi) = (frame / frames, frame % frames)
                let (c0, c1) = (s * part / splits, s * (part + 1) / splits)
                let o = po + frame * co * s + c0
                let used = validTaps(fi)  // never empty: k is odd, so the centre tap reads frame f itself
                let first = clip * frames + fi + used.lowerBound - taps / 2  // source frame of the first used tap
                BLAS.sgemm(m: co, n: c1 - c0, k: used.count * ci, a: pa + used.lowerBound * ci, lda: lda,
                           b: px + first * ci * s + c0, ldb: s, c: o, ldc: s)
                if let pb { for r in 0..<co { addScalar(pb[r], to: o + r * s, count: c1 - c0) } }
            }
        }
        let share = workers > 1 && heavy && items >= workers ? workers : 1
        if share == 1 { return run(0..<items) }
        forkJoin(splitting: items, into: share) { _, range in run(range) }
    }

    /// The weight gradient in stacked form (Co, k·Ci): Σ over clips and frames of g[f] · [x[f + j − k/2]]ᵀ,
    /// each worker summing its frames into its own part.
    func tapGradient(g: UnsafeMutablePointer<Float>, outChannels co: Int, x: UnsafeMutablePointer<Float>, channels ci: Int,
                     clips: Int, positions s: Int) -> Tensor {
        let count = clips * frames
        let width = taps * ci
        let share = Parallelism.workers > 1 && count >= Parallelism.workers && co * width * s >= 1 << 16 ? Parallelism.workers : 1
        let parts = (0..<share).map { _ in Tensor.zeros([co, width]) }
        let (pg, px) = (SharedPointer(g), SharedPointer(x))
        let pointers = parts.map { SharedPointer($0.storage.pointer) }
        let run: @Sendable (Int) -> Void = { w in
            for frame in (count * w / share)..<(count * (w + 1) / share) {
                let (clip, fi) = (frame / frames, frame % frames)
                let used = validTaps(fi)
                let first = clip * frames + fi + used.lowerBound - taps / 2
                BLAS.sgemm(transB: true, m: co, n: used.count * ci, k: s, a: pg + frame * co * s, lda: s,
                           b: px + first * ci * s, ldb: s, beta: 1, c: pointers[w] + used.lowerBound * ci, ldc: width)
            }
        }
        if share == 1 { run(0) } else { forkJoin(iterations: share, run) }
        let total = parts[0].storage.pointer
        for part in parts.dropFirst() { for i in 0..<(co * width) { total[i] += part.storage.pointer[i] } }
        return parts[0]
    }
}

@inline(__always)
private func addScalar(_ value: Float, to p: UnsafeMutablePointer<Float>, count: Int) {
    guard value != 0 else { return }
    for i in 0..<count { p[i] += value }
}
