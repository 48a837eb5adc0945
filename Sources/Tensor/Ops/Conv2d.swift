// 2-D convolution by im2col + sgemm, forward and backward side by side.
//
// x (N, Ci, H, W), weight (Co, Ci, kh, kw), bias (Co) → (N, Co, Ho, Wo).
// Images are split across cores (OpenBLAS single-threaded inside each worker) when the batch
// has at least as many images as cores; otherwise OpenBLAS threads one large product.

struct ConvGeometry {
    let n, ci, h, w, co, kh, kw, stride, padding, ho, wo: Int
    var k: Int { ci * kh * kw }  // rows of the column matrix
    var s: Int { ho * wo }  // columns of the column matrix
    var isPointwise: Bool { kh == 1 && kw == 1 && stride == 1 && padding == 0 }
}

extension Tensor {
    public static func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: Int = 1, padding: Int = 0) -> Tensor {
        precondition(x.rank == 4 && weight.rank == 4 && x.shape[1] == weight.shape[1],
                     "conv2d: input \(x.shape) does not fit weight \(weight.shape) (N, Ci, H, W) / (Co, Ci, kh, kw)")
        let (n, ci, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (co, kh, kw) = (weight.shape[0], weight.shape[2], weight.shape[3])
        let ho = (h + 2 * padding - kh) / stride + 1
        let wo = (w + 2 * padding - kw) / stride + 1
        precondition(ho > 0 && wo > 0, "conv2d: kernel \(kh)×\(kw) larger than padded input \(h)×\(w)")
        let geo = ConvGeometry(n: n, ci: ci, h: h, w: w, co: co, kh: kh, kw: kw, stride: stride, padding: padding,
                               ho: ho, wo: wo)
        if let bias { precondition(bias.shape == [co], "conv2d: bias \(bias.shape) for \(co) channels") }
        let out = Tensor.empty([n, co, ho, wo])
        let px = SharedPointer(x.storage.pointer), pw = SharedPointer(weight.storage.pointer)
        let po = SharedPointer(out.storage.pointer)
        let pb = bias.map { SharedPointer($0.storage.pointer) }
        forEachImage(geo) { _, images, parallel in
            let col = geo.isPointwise ? nil : Storage(uninitialized: geo.k * geo.s)
            for i in images {
                let xi = px + i * ci * h * w
                let source: UnsafeMutablePointer<Float>
                if let col {
                    im2col(xi, geo, into: col.pointer, parallel: parallel)
                    source = col.pointer
                } else {
                    source = xi
                }
                let oi = po + i * co * geo.s
                // (Co, K) × (K, S) → (Co, S)
                gemm(parallel, m: co, n: geo.s, k: geo.k, a: pw.base, lda: geo.k, b: source, ldb: geo.s, c: oi, ldc: geo.s)
                if let pb {
                    for c in 0..<co {
                        let b = pb[c], row = oi + c * geo.s
                        for j in 0..<geo.s { row[j] += b }
                    }
                }
            }
        }
        let inputs = bias.map { [x, weight, $0] } ?? [x, weight]
        return result(out, inputs: inputs) { g in
            conv2dBackward(g, x: x, weight: weight, bias: bias, geo: geo)
        }
    }

    private static func conv2dBackward(_ g: Tensor, x: Tensor, weight: Tensor, bias: Tensor?, geo: ConvGeometry) {
        let needX = x.requiresGrad, needW = weight.requiresGrad, needB = bias?.requiresGrad ?? false
        let gx = needX ? Tensor.empty(x.shape) : nil
        let px = SharedPointer(x.storage.pointer), pw = SharedPointer(weight.storage.pointer)
        let pg = SharedPointer(g.storage.pointer)
        let pgx = gx.map { SharedPointer($0.storage.pointer) }
        let workers = imageWorkers(geo)
        // Each worker sums its images' weight and bias gradients privately; added up at the end.
        let gwParts = (0..<workers).map { _ in needW ? Storage(repeating: 0, count: geo.co * geo.k) : nil }
        let gbParts = (0..<workers).map { _ in needB ? Storage(repeating: 0, count: geo.co) : nil }
        forEachImage(geo) { worker, images, parallel in
            let col = geo.isPointwise ? nil : Storage(uninitialized: geo.k * geo.s)
            let gcol = (needX && !geo.isPointwise) ? Storage(uninitialized: geo.k * geo.s) : nil
            for i in images {
                let gi = pg + i * geo.co * geo.s
                if let gw = gwParts[worker] {
                    let xi = px + i * geo.ci * geo.h * geo.w
                    let source: UnsafeMutablePointer<Float>
                    if let col {
                        im2col(xi, geo, into: col.pointer, parallel: parallel)
                        source = col.pointer
                    } else {
                        source = xi
                    }
                    // (Co, S) × (K, S)ᵀ → (Co, K), accumulated
                    gemm(parallel, transB: true, m: geo.co, n: geo.k, k: geo.s, a: gi, lda: geo.s, b: source, ldb: geo.s,
                         beta: 1, c: gw.pointer, ldc: geo.k)
                }
                if let gb = gbParts[worker] {
                    for c in 0..<geo.co {
                        var s: Float = 0
                        let row = gi + c * geo.s
                        for j in 0..<geo.s { s += row[j] }
                        gb.pointer[c] += s
                    }
                }
                if let pgx {
                    let gxi = pgx + i * geo.ci * geo.h * geo.w
                    if let gcol {
                        // (Co, K)ᵀ × (Co, S) → (K, S), then scattered back onto the image
                        gemm(parallel, transA: true, m: geo.k, n: geo.s, k: geo.co, a: pw.base, lda: geo.k, b: gi,
                             ldb: geo.s, c: gcol.pointer, ldc: geo.s)
                        col2im(gcol.pointer, geo, into: gxi, parallel: parallel)
                    } else {
                        gemm(parallel, transA: true, m: geo.k, n: geo.s, k: geo.co, a: pw.base, lda: geo.k, b: gi,
                             ldb: geo.s, c: gxi, ldc: geo.s)
                    }
                }
            }
        }
        if let gx { x.accumulateGrad(gx) }
        if needW {
            let gw = Tensor.empty(weight.shape)
            sumParts(gwParts.map { $0! }, into: gw.storage.pointer, count: gw.count)
            weight.accumulateGrad(gw)
        }
        if let bias, needB {
            let gb = Tensor.empty(bias.shape)
            sumParts(gbParts.map { $0! }, into: gb.storage.pointer, count: gb.count)
            bias.accumulateGrad(gb)
        }
    }

    private static func sumParts(_ parts: [Storage], into dst: UnsafeMutablePointer<Float>, count: Int) {
        dst.update(from: parts[0].pointer, count: count)
        for part in parts.dropFirst() { for j in 0..<count { dst[j] += part.pointer[j] } }
    }

    /// Cores that take whole images: all of them when the batch has enough images, else one.
    private static func imageWorkers(_ geo: ConvGeometry) -> Int {
        geo.n >= Parallelism.workers ? Parallelism.workers : 1
    }

    /// Runs `body(worker, images, parallel)`: images split across cores when the batch allows
    /// (`parallel` false: each worker runs single-threaded), else all images on this thread with
    /// `parallel` true (the work inside each image is split across cores).
    private static func forEachImage(_ geo: ConvGeometry, _ body: (Int, Range<Int>, Bool) -> Void) {
        let workers = imageWorkers(geo)
        if workers <= 1 {
            body(0, 0..<geo.n, Parallelism.workers > 1)
            return
        }
        withoutActuallyEscaping(body) { body in
            let box = UnsafeSendableBox(body)
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                box.value(w, (geo.n * w / workers)..<(geo.n * (w + 1) / workers), false)
            }
        }
    }

    @inline(__always)
    private static func gemm(_ parallel: Bool, transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                             a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int, beta: Float = 0,
                             c: UnsafeMutablePointer<Float>, ldc: Int) {
        if parallel {
            BLAS.parallelSgemm(transA: transA, transB: transB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, beta: beta,
                               c: c, ldc: ldc)
        } else {
            BLAS.sgemm(transA: transA, transB: transB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, beta: beta,
                       c: c, ldc: ldc)
        }
    }

    /// Unfolds one image (Ci, H, W) into columns (Ci·kh·kw, Ho·Wo), zeros where the kernel
    /// reaches into the padding; channels split across cores when `parallel`.
    static func im2col(_ x: UnsafeMutablePointer<Float>, _ geo: ConvGeometry, into col: UnsafeMutablePointer<Float>,
                       parallel: Bool) {
        let (px, pc) = (SharedPointer(x), SharedPointer(col))
        parallelFor(geo.ci, minimumPerWorker: parallel ? max(1, 8192 / max(1, geo.kh * geo.kw * geo.s)) : Int.max) { channels in
            im2col(px.base, geo, into: pc.base, channels: channels)
        }
    }

    /// The adjoint of ``im2col``: adds columns back onto the image (overwriting it first).
    static func col2im(_ col: UnsafeMutablePointer<Float>, _ geo: ConvGeometry, into x: UnsafeMutablePointer<Float>,
                       parallel: Bool) {
        let (px, pc) = (SharedPointer(x), SharedPointer(col))
        parallelFor(geo.ci, minimumPerWorker: parallel ? max(1, 8192 / max(1, geo.kh * geo.kw * geo.s)) : Int.max) { channels in
            col2im(pc.base, geo, into: px.base, channels: channels)
        }
    }

    private static func im2col(_ x: UnsafeMutablePointer<Float>, _ geo: ConvGeometry, into col: UnsafeMutablePointer<Float>,
                               channels: Range<Int>) {
        let (h, w, ho, wo, s, p) = (geo.h, geo.w, geo.ho, geo.wo, geo.stride, geo.padding)
        for c in channels {
            let plane = x + c * h * w
            for ky in 0..<geo.kh {
                for kx in 0..<geo.kw {
                    let row = col + ((c * geo.kh + ky) * geo.kw + kx) * geo.s
                    // Output columns whose input x stays inside the image: lo..<hi.
                    let lo = s == 1 ? max(0, p - kx) : min(wo, max(0, (p - kx + s - 1) / s))
                    let hi = s == 1 ? min(wo, w + p - kx) : max(lo, min(wo, (w + p - kx + s - 1) / s))
                    for oy in 0..<ho {
                        let iy = oy * s - p + ky
                        let out = row + oy * wo
                        guard iy >= 0 && iy < h else {
                            for ox in 0..<wo { out[ox] = 0 }
                            continue
                        }
                        let src = plane + iy * w
                        // Rows are short (tens of values): plain loops beat memcpy/memset calls.
                        for ox in 0..<lo { out[ox] = 0 }
                        if s == 1 {
                            let shifted = src + (kx - p)
                            for ox in lo..<hi { out[ox] = shifted[ox] }
                        } else {
                            for ox in lo..<hi { out[ox] = src[ox * s - p + kx] }
                        }
                        for ox in hi..<wo { out[ox] = 0 }
                    }
                }
            }
        }
    }

    private static func col2im(_ col: UnsafeMutablePointer<Float>, _ geo: ConvGeometry, into x: UnsafeMutablePointer<Float>,
                               channels: Range<Int>) {
        let (h, w, ho, wo, s, p) = (geo.h, geo.w, geo.ho, geo.wo, geo.stride, geo.padding)
        (x + channels.lowerBound * h * w).update(repeating: 0, count: channels.count * h * w)
        for c in channels {
            let plane = x + c * h * w
            for ky in 0..<geo.kh {
                for kx in 0..<geo.kw {
                    let row = col + ((c * geo.kh + ky) * geo.kw + kx) * geo.s
                    let lo = s == 1 ? max(0, p - kx) : min(wo, max(0, (p - kx + s - 1) / s))
                    let hi = s == 1 ? min(wo, w + p - kx) : max(lo, min(wo, (w + p - kx + s - 1) / s))
                    guard hi > lo else { continue }
                    for oy in 0..<ho {
                        let iy = oy * s - p + ky
                        guard iy >= 0 && iy < h else { continue }
                        let dst = plane + iy * w
                        let src = row + oy * wo
                        if s == 1 {
                            let d = dst + (lo - p + kx)
                            for j in 0..<(hi - lo) { d[j] += src[lo + j] }
                        } else {
                            for ox in lo..<hi { dst[ox * s - p + kx] += src[ox] }
                        }
                    }
                }
            }
        }
    }
}

import Dispatch
