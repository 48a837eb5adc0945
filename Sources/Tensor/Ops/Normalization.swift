// Group normalisation and layer normalisation, forward and backward side by side.

extension Tensor {
    /// Group normalisation of x (N, C, …): each of `groups` channel groups of each sample is
    /// normalised over its channels and positions, then scaled by `weight` (C) and shifted by `bias` (C).
    /// With `thenSiLU`, silu(groupNorm(x)) in one pass over memory (forward and backward), the
    /// pair every residual block of a diffusion UNet starts with.
    public static func groupNorm(_ x: Tensor, groups: Int, weight: Tensor?, bias: Tensor?, eps: Float = 1e-5,
                                 thenSiLU: Bool = false) -> Tensor {
        precondition(x.rank >= 2, "groupNorm: input \(x.shape) needs (N, C, …)")
        return groupNorm(x, n: x.shape[0], frames: 1, channels: x.shape[1], groups: groups, weight: weight, bias: bias,
                         eps: eps, silu: thenSiLU)
    }

    /// Group normalisation of a video x (B, F, C, …) whose statistics span all F frames (as a 3-D
    /// GroupNorm over (C, F, H, W) would), in the frame-major layout this project uses.
    public static func videoGroupNorm(_ x: Tensor, groups: Int, weight: Tensor?, bias: Tensor?, eps: Float = 1e-5,
                                      thenSiLU: Bool = false) -> Tensor {
        precondition(x.rank >= 3, "videoGroupNorm: input \(x.shape) needs (B, F, C, …)")
        return groupNorm(x, n: x.shape[0], frames: x.shape[1], channels: x.shape[2], groups: groups, weight: weight,
                         bias: bias, eps: eps, silu: thenSiLU)
    }

    /// x viewed as (N, F, C, S); statistics per (n, group) over (F, C/G, S). With `silu`, the
    /// output is silu(z) of the normalised z, and the backward pass recomputes z from x.
    private static func groupNorm(_ x: Tensor, n: Int, frames: Int, channels c: Int, groups: Int, weight: Tensor?,
                                  bias: Tensor?, eps: Float, silu: Bool) -> Tensor {
        precondition(groups > 0 && c % groups == 0, "groupNorm: \(c) channels do not split into \(groups) groups")
        if let weight { precondition(weight.shape == [c], "groupNorm: weight \(weight.shape) for \(c) channels") }
        if let bias { precondition(bias.shape == [c], "groupNorm: bias \(bias.shape) for \(c) channels") }
        let s = x.count / (n * frames * c)
        let cg = c / groups
        let groupSize = Float(frames * cg * s)
        let out = Tensor.empty(x.shape)
        let mean = Storage(uninitialized: n * groups), invStd = Storage(uninitialized: n * groups)
        let px = SharedPointer(x.storage.pointer), po = SharedPointer(out.storage.pointer)
        let pm = SharedPointer(mean.pointer), pr = SharedPointer(invStd.pointer)
        let pw = weight.map { SharedPointer($0.storage.pointer) }, pb = bias.map { SharedPointer($0.storage.pointer) }
        parallelFor(n * groups, minimumPerWorker: max(1, 16_384 / max(1, frames * cg * s))) { range in
            for ng in range {
                let (ni, gi) = (ng / groups, ng % groups)
                var sum: Double = 0, sumSq: Double = 0
                for fi in 0..<frames {
                    let block = px + ((ni * frames + fi) * c + gi * cg) * s
                    let (bs, bq) = sumAndSquares(block, count: cg * s)
                    sum += Double(bs)
                    sumSq += Double(bq)
                }
                let m = sum / Double(groupSize)
                let variance = max(0, sumSq / Double(groupSize) - m * m)
                let r = Float(1 / (variance + Double(eps)).squareRoot())
                pm[ng] = Float(m)
                pr[ng] = r
                for fi in 0..<frames {
                    for cc in 0..<cg {
                        let channel = gi * cg + cc
                        let scale = (pw?[channel] ?? 1) * r
                        let shift = (pb?[channel] ?? 0) - Float(m) * scale
                        let offset = ((ni * frames + fi) * c + channel) * s
                        let src = px + offset, dst = po + offset
                        if silu {
                            for j in 0..<s {
                                let z = src[j] * scale + shift
                                dst[j] = z / (1 + fastExp(-z))
                            }
                        } else {
                            for j in 0..<s { dst[j] = src[j] * scale + shift }
                        }
                    }
                }
            }
        }
        var inputs = [x]
        if let weight { inputs.append(weight) }
        if let bias { inputs.append(bias) }
        return result(out, inputs: inputs) { [mean, invStd] g in
            // The statistics live as long as this closure (pm and pr point into them).
            withExtendedLifetime((mean, invStd)) {}
            // Through the SiLU first: dz = dy · σ(z)(1 + z(1 − σ(z))), z recomputed from x.
            let gz = silu ? Tensor.empty(x.shape) : g
            if silu {
                let (pgIn, pgz) = (SharedPointer(g.storage.pointer), SharedPointer(gz.storage.pointer))
                parallelFor(n * groups, minimumPerWorker: max(1, 16_384 / max(1, frames * cg * s))) { range in
                    for ng in range {
                        let (ni, gi) = (ng / groups, ng % groups)
                        let (m, r) = (pm[ng], pr[ng])
                        for fi in 0..<frames {
                            for cc in 0..<cg {
                                let channel = gi * cg + cc
                                let scale = (pw?[channel] ?? 1) * r
                                let shift = (pb?[channel] ?? 0) - m * scale
                                let offset = ((ni * frames + fi) * c + channel) * s
                                let (src, dy, dz) = (px + offset, pgIn + offset, pgz + offset)
                                for j in 0..<s {
                                    let z = src[j] * scale + shift
                                    let sigma = 1 / (1 + fastExp(-z))
                                    dz[j] = dy[j] * sigma * (1 + z * (1 - sigma))
                                }
                            }
                        }
                    }
                }
            }
            let pg = SharedPointer(gz.storage.pointer)
            let needW = weight?.requiresGrad ?? false, needB = bias?.requiresGrad ?? false
            // Per-channel sums of g·x̂ and g, gathered per (n, channel) to stay race-free, then reduced.
            let dwParts = Storage(repeating: 0, count: n * c), dbParts = Storage(repeating: 0, count: n * c)
            let pdw = SharedPointer(dwParts.pointer), pdb = SharedPointer(dbParts.pointer)
            let gx = x.requiresGrad ? Tensor.empty(x.shape) : nil
            let pgx = gx.map { SharedPointer($0.storage.pointer) }
            parallelFor(n * groups, minimumPerWorker: max(1, 16_384 / max(1, frames * cg * s))) { range in
                for ng in range {
                    let (ni, gi) = (ng / groups, ng % groups)
                    let m = pm[ng], r = pr[ng]
                    // dx = r·(dy·γ − mean(dy·γ) − x̂·mean(dy·γ·x̂))
                    var sumDy: Float = 0, sumDyXhat: Float = 0
                    for fi in 0..<frames {
                        for cc in 0..<cg {
                            let channel = gi * cg + cc
                            let gamma = pw?[channel] ?? 1
                            let offset = ((ni * frames + fi) * c + channel) * s
                            let (cs, cx) = sumAndNormalizedDot(pg + offset, px + offset, count: s, mean: m, invStd: r)
                            pdb[ni * c + channel] += cs
                            pdw[ni * c + channel] += cx
                            sumDy += cs * gamma
                            sumDyXhat += cx * gamma
                        }
                    }
                    guard let pgx else { continue }
                    let meanDy = sumDy / groupSize, meanDyXhat = sumDyXhat / groupSize
                    for fi in 0..<frames {
                        for cc in 0..<cg {
                            let channel = gi * cg + cc
                            let gamma = pw?[channel] ?? 1
                            let offset = ((ni * frames + fi) * c + channel) * s
                            for j in 0..<s {
                                let xhat = (px[offset + j] - m) * r
                                pgx[offset + j] = r * (pg[offset + j] * gamma - meanDy - xhat * meanDyXhat)
                            }
                        }
                    }
                }
            }
            if let gx { x.accumulateGrad(gx) }
            if let weight, needW {
                let gw = Tensor.zeros([c])
                for ni in 0..<n { for ch in 0..<c { gw.storage.pointer[ch] += pdw[ni * c + ch] } }
                weight.accumulateGrad(gw)
            }
            if let bias, needB {
                let gb = Tensor.zeros([c])
                for ni in 0..<n { for ch in 0..<c { gb.storage.pointer[ch] += pdb[ni * c + ch] } }
                bias.accumulateGrad(gb)
            }
        }
    }

    /// Layer normalisation over the last dimension (D), scaled by `weight` (D) and shifted by `bias` (D).
    public static func layerNorm(_ x: Tensor, weight: Tensor?, bias: Tensor?, eps: Float = 1e-5) -> Tensor {
        let d = x.shape.last ?? 1
        let rows = x.count / max(1, d)
        // A row is a group of one "channel" with d positions: reuse the group-norm kernel on
        // (rows, 1, d), then apply the per-feature affine, which group norm would apply per channel.
        let normalized = groupNorm(x.reshaped([rows, 1, d]), n: rows, frames: 1, channels: 1, groups: 1, weight: nil,
                                   bias: nil, eps: eps, silu: false).reshaped(x.shape)
        var y = normalized
        if let weight { y = y * weight }
        if let bias { y = y + bias }
        return y
    }
}

/// Σ v and Σ v² over `count` values, in eight-lane partial sums: a plain Float loop is one
/// dependent add after another (the compiler may not reorder float sums), a tenth of the
/// plan model's sampling time.
@inline(__always)
func sumAndSquares(_ p: UnsafeMutablePointer<Float>, count: Int) -> (Float, Float) {
    var s = SIMD8<Float>(), q = SIMD8<Float>()
    var j = 0
    while j + 8 <= count {
        let v = UnsafeRawPointer(p + j).loadUnaligned(as: SIMD8<Float>.self)
        s += v
        q += v * v
        j += 8
    }
    var (sum, squares) = (s.sum(), q.sum())
    while j < count { sum += p[j]; squares += p[j] * p[j]; j += 1 }
    return (sum, squares)
}

/// Σ dy and Σ dy·(x − mean)·invStd over `count` values, in eight-lane partial sums.
@inline(__always)
func sumAndNormalizedDot(_ dy: UnsafeMutablePointer<Float>, _ x: UnsafeMutablePointer<Float>, count: Int, mean: Float,
                         invStd: Float) -> (Float, Float) {
    var s = SIMD8<Float>(), d = SIMD8<Float>()
    let (m, r) = (SIMD8<Float>(repeating: mean), SIMD8<Float>(repeating: invStd))
    var j = 0
    while j + 8 <= count {
        let g = UnsafeRawPointer(dy + j).loadUnaligned(as: SIMD8<Float>.self)
        let v = UnsafeRawPointer(x + j).loadUnaligned(as: SIMD8<Float>.self)
        s += g
        d += g * ((v - m) * r)
        j += 8
    }
    var (sum, dot) = (s.sum(), d.sum())
    while j < count { sum += dy[j]; dot += dy[j] * ((x[j] - mean) * invStd); j += 1 }
    return (sum, dot)
}
