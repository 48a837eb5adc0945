// 2-D convolution by im2col + sgemm, forward and backward side by side.
//
// x (N, Ci, H, W), weight (Co, Ci, kh, kw), bias (Co) → (N, Co, Ho, Wo).
// Each image is cut into tiles of output rows whose column matrix fits in the core's cache;
// (image, tile) pieces are spread over the cores, each running single-threaded sgemm.

struct ConvGeometry {
    let n, ci, h, w, co, kh, kw, stride, padding, ho, wo: Int
    var k: Int { ci * kh * kw }  // rows of the column matrix
    var s: Int { ho * wo }  // output positions per image
    var isPointwise: Bool { kh == 1 && kw == 1 && stride == 1 && padding == 0 }
    /// Output rows per tile: the column matrix of a tile stays within about 1 MB, and a batch
    /// smaller than the core count still gives every core an equal share of tiles.
    var tileRows: Int {
        let maxRows = max(1, min(ho, (1 << 18) / max(1, k * wo)))
        var count = (ho + maxRows - 1) / maxRows
        let workers = Parallelism.workers
        if n < workers { count = min(ho, (count + workers - 1) / workers * workers) }
        return (ho + count - 1) / count
    }
    var tiles: Int { (ho + tileRows - 1) / tileRows }
    func rows(ofTile t: Int) -> Range<Int> { (t * tileRows)..<min(ho, (t + 1) * tileRows) }
}

/// How ``Tensor/conv2d(_:weight:bias:stride:padding:algorithm:)`` computes a convolution.
public enum ConvolutionAlgorithm: Sendable, Equatable {
    /// Winograd for 3×3 kernels with stride 1 and padding 1 where it is faster (enough output
    /// tiles; the tile size by the image size), im2col otherwise.
    case automatic
    /// im2col + sgemm for every shape (the reference the Winograd path is checked against).
    case im2col
    /// Winograd F(tile×tile, 3×3), tile 2 or 4, for every 3×3 kernel with stride 1 and padding 1,
    /// forward and backward (tests and benchmarks).
    case winograd(tile: Int)
}

extension Tensor {
    public static func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: Int = 1, padding: Int = 0,
                              algorithm: ConvolutionAlgorithm = .automatic) -> Tensor {
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
        switch algorithm {
        case .automatic where Winograd.enabled:
            if let tile = Winograd.tile(for: geo) {
                return winogradConv2d(x, weight: weight, bias: bias, geo: geo, tile: tile,
                                      backward: Winograd.appliesBackward(geo, tile: tile))
            }
        case .winograd(let tile) where Winograd.isWinogradShape(geo):
            precondition(tile == 2 || tile == 4, "conv2d: Winograd tiles are 2 or 4, not \(tile)")
            return winogradConv2d(x, weight: weight, bias: bias, geo: geo, tile: tile, backward: true)
        default: break
        }
        let out = Tensor.empty([n, co, ho, wo])
        let px = SharedPointer(x.storage.pointer), pw = SharedPointer(weight.storage.pointer)
        let po = SharedPointer(out.storage.pointer)
        let pb = bias.map { SharedPointer($0.storage.pointer) }
        forEachPiece(geo, byImage: false) { _, pieces, parallel in
            let col = geo.isPointwise ? nil : Storage(uninitialized: geo.k * geo.tileRows * wo)
            for (i, t) in pieces {
                let rows = geo.rows(ofTile: t)
                let columns = rows.count * wo
                let xi = px + i * ci * h * w
                let (source, ldb) = tileSource(xi, geo, rows: rows, col: col)
                let o = po + i * co * geo.s + rows.lowerBound * wo
                // (Co, K) × (K, T) → (Co, T) inside (Co, S)
                gemm(parallel, m: co, n: columns, k: geo.k, a: pw.base, lda: geo.k, b: source, ldb: ldb, c: o, ldc: geo.s)
                if let pb {
                    for c in 0..<co {
                        let b = pb[c], row = o + c * geo.s
                        for j in 0..<columns { row[j] += b }
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
        let gx = needX ? Tensor.zeros(x.shape) : nil
        let px = SharedPointer(x.storage.pointer), pw = SharedPointer(weight.storage.pointer)
        let pg = SharedPointer(g.storage.pointer)
        let workers = Parallelism.workers
        // Tiles of one image overlap on the input (a 3×3 kernel reaches the neighbouring rows), so
        // input gradients go to per-worker buffers unless each image belongs to one worker.
        let byImage = geo.n >= workers
        let imageSize = geo.ci * geo.h * geo.w
        let gxParts: [Storage?] = (0..<workers).map { _ in needX && !byImage ? Storage(repeating: 0, count: geo.n * imageSize) : nil }
        // Weight and bias gradients are summed per worker, then added up.
        let gwParts = (0..<workers).map { _ in needW ? Storage(repeating: 0, count: geo.co * geo.k) : nil }
        let gbParts = (0..<workers).map { _ in needB ? Storage(repeating: 0, count: geo.co) : nil }
        let pgx = gx.map { SharedPointer($0.storage.pointer) }
        forEachPiece(geo, byImage: byImage) { worker, pieces, parallel in
            let tileColumns = geo.tileRows * geo.wo
            let col = geo.isPointwise ? nil : Storage(uninitialized: geo.k * tileColumns)
            let gcol = needX ? Storage(uninitialized: geo.k * tileColumns) : nil
            let gxBase = gxParts[worker].map { $0.pointer } ?? pgx?.base
            for (i, t) in pieces {
                let rows = geo.rows(ofTile: t)
                let columns = rows.count * geo.wo
                let gi = pg + i * geo.co * geo.s + rows.lowerBound * geo.wo  // (Co, T) inside (Co, S)
                if let gw = gwParts[worker] {
                    let (source, ldb) = tileSource(px + i * imageSize, geo, rows: rows, col: col)
                    // (Co, T) × (K, T)ᵀ → (Co, K), accumulated
                    gemm(parallel, transB: true, m: geo.co, n: geo.k, k: columns, a: gi, lda: geo.s, b: source, ldb: ldb,
                         beta: 1, c: gw.pointer, ldc: geo.k)
                }
                if let gb = gbParts[worker] {
                    for c in 0..<geo.co {
                        gb.pointer[c] += sumOf(gi + c * geo.s, count: columns)
                    }
                }
                if let gcol, let gxBase {
                    // (Co, K)ᵀ × (Co, T) → (K, T), then added back onto the image
                    gemm(parallel, transA: true, m: geo.k, n: columns, k: geo.co, a: pw.base, lda: geo.k, b: gi, ldb: geo.s,
                         c: gcol.pointer, ldc: columns)
                    col2im(gcol.pointer, geo, rows: rows, into: gxBase + i * imageSize)
                }
            }
        }
        if let gx {
            if !byImage {
                let dst = gx.storage.pointer
                for part in gxParts { if let part { for j in 0..<gx.count { dst[j] += part.pointer[j] } } }
            }
            x.accumulateGrad(gx)
        }
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

    /// The Winograd forward pass; its backward by Winograd too if `backward`, else by im2col.
    private static func winogradConv2d(_ x: Tensor, weight: Tensor, bias: Tensor?, geo: ConvGeometry, tile: Int,
                                       backward: Bool) -> Tensor {
        let out = Tensor.empty([geo.n, geo.co, geo.ho, geo.wo])
        let u = Winograd.transformedWeights(weight, m: tile, flippedTransposed: false)
        Winograd.forward(x.storage.pointer, geo, m: tile, u: u.pointer, co: geo.co, bias: bias?.storage.pointer, into: out.storage.pointer)
        withExtendedLifetime(u) {}
        let inputs = bias.map { [x, weight, $0] } ?? [x, weight]
        return result(out, inputs: inputs) { g in
            guard backward else {
                conv2dBackward(g, x: x, weight: weight, bias: bias, geo: geo)
                return
            }
            if x.requiresGrad {
                // The input gradient is the forward convolution of g with the flipped, transposed kernel.
                let gx = Tensor.empty(x.shape)
                let flipped = Winograd.transformedWeights(weight, m: tile, flippedTransposed: true)
                let transposed = ConvGeometry(n: geo.n, ci: geo.co, h: geo.h, w: geo.w, co: geo.ci, kh: 3, kw: 3, stride: 1,
                                              padding: 1, ho: geo.h, wo: geo.w)
                Winograd.forward(g.storage.pointer, transposed, m: tile, u: flipped.pointer, co: geo.ci, bias: nil,
                                 into: gx.storage.pointer)
                withExtendedLifetime(flipped) {}
                x.accumulateGrad(gx)
            }
            if weight.requiresGrad {
                let gw = Tensor.empty(weight.shape)
                Winograd.weightGradient(x.storage.pointer, g.storage.pointer, geo, m: tile, into: gw.storage.pointer)
                weight.accumulateGrad(gw)
            }
            if let bias, bias.requiresGrad {
                let gb = Tensor.zeros(bias.shape)
                let (pg, pb) = (g.storage.pointer, gb.storage.pointer)
                for i in 0..<geo.n {
                    for c in 0..<geo.co {
                        pb[c] += sumOf(pg + (i * geo.co + c) * geo.s, count: geo.s)
                    }
                }
                bias.accumulateGrad(gb)
            }
        }
    }

    private static func sumParts(_ parts: [Storage], into dst: UnsafeMutablePointer<Float>, count: Int) {
        dst.update(from: parts[0].pointer, count: count)
        for part in parts.dropFirst() { for j in 0..<count { dst[j] += part.pointer[j] } }
    }

    /// The column matrix of a tile and its leading dimension: the input itself for a pointwise
    /// convolution, else the tile unfolded into `col`.
    @inline(__always)
    private static func tileSource(_ image: UnsafeMutablePointer<Float>, _ geo: ConvGeometry, rows: Range<Int>,
                                   col: Storage?) -> (UnsafeMutablePointer<Float>, Int) {
        guard let col else { return (image + rows.lowerBound * geo.wo, geo.s) }
        im2col(image, geo, rows: rows, into: col.pointer)
        return (col.pointer, rows.count * geo.wo)
    }

    /// Spreads the (image, tile) pieces over the cores: `body(worker, pieces, parallel)`. With
    /// `byImage`, all tiles of an image go to the same worker. With fewer pieces than cores, one
    /// worker takes them all and `parallel` asks it to split each product across the cores.
    private static func forEachPiece(_ geo: ConvGeometry, byImage: Bool, _ body: (Int, [(Int, Int)], Bool) -> Void) {
        let pieces = (0..<geo.n).flatMap { i in (0..<geo.tiles).map { (i, $0) } }
        let workers = min(Parallelism.workers, byImage ? geo.n : pieces.count)
        if workers <= 1 {
            body(0, pieces, Parallelism.workers > 1)
            return
        }
        // Ranges of images (byImage) or of pieces.
        forkJoin(splitting: byImage ? geo.n : pieces.count, into: workers) { w, range in
            body(w, byImage ? pieces.filter { range.contains($0.0) } : Array(pieces[range]), false)
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

    /// Unfolds output rows `rows` of one image (Ci, H, W) into columns (Ci·kh·kw, rows·Wo), zeros
    /// where the kernel reaches into the padding.
    static func im2col(_ x: UnsafeMutablePointer<Float>, _ geo: ConvGeometry, rows: Range<Int>,
                       into col: UnsafeMutablePointer<Float>) {
        let (h, w, wo, s, p) = (geo.h, geo.w, geo.wo, geo.stride, geo.padding)
        let columns = rows.count * wo
        for c in 0..<geo.ci {
            let plane = x + c * h * w
            for ky in 0..<geo.kh {
                for kx in 0..<geo.kw {
                    let row = col + ((c * geo.kh + ky) * geo.kw + kx) * columns
                    // Output columns whose input x stays inside the image: lo..<hi.
                    let lo = s == 1 ? max(0, p - kx) : min(wo, max(0, (p - kx + s - 1) / s))
                    let hi = s == 1 ? min(wo, w + p - kx) : max(lo, min(wo, (w + p - kx + s - 1) / s))
                    for oy in rows {
                        let iy = oy * s - p + ky
                        let out = row + (oy - rows.lowerBound) * wo
                        // Rows are short (tens of values): plain loops beat memcpy/memset calls.
                        guard iy >= 0 && iy < h else {
                            for ox in 0..<wo { out[ox] = 0 }
                            continue
                        }
                        let src = plane + iy * w
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

    /// The adjoint of ``im2col(_:_:rows:into:)``: adds the columns of a tile onto the image.
    static func col2im(_ col: UnsafeMutablePointer<Float>, _ geo: ConvGeometry, rows: Range<Int>,
                       into x: UnsafeMutablePointer<Float>) {
        let (h, w, wo, s, p) = (geo.h, geo.w, geo.wo, geo.stride, geo.padding)
        let columns = rows.count * wo
        for c in 0..<geo.ci {
            let plane = x + c * h * w
            for ky in 0..<geo.kh {
                for kx in 0..<geo.kw {
                    let row = col + ((c * geo.kh + ky) * geo.kw + kx) * columns
                    let lo = s == 1 ? max(0, p - kx) : min(wo, max(0, (p - kx + s - 1) / s))
                    let hi = s == 1 ? min(wo, w + p - kx) : max(lo, min(wo, (w + p - kx + s - 1) / s))
                    guard hi > lo else { continue }
                    for oy in rows {
                        let iy = oy * s - p + ky
                        guard iy >= 0 && iy < h else { continue }
                        let dst = plane + iy * w
                        let src = row + (oy - rows.lowerBound) * wo
                        if s == 1 {
                            let shifted = dst + (kx - p)
                            for ox in lo..<hi { shifted[ox] += src[ox] }
                        } else {
                            for ox in lo..<hi { dst[ox * s - p + kx] += src[ox] }
                        }
                    }
                }
            }
        }
    }
}
