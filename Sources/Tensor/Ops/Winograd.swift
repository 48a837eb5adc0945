// 3×3 convolutions with stride 1 and padding 1 by Winograd's minimal filtering F(2×2, 3×3)
// (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2015).
//
// The output is cut into 2×2 tiles; each reads a 4×4 input tile. Per tile and channel pair the
// convolution becomes an element-wise product of two 4×4 transforms, so the multiply work is 16
// instead of 36 per 2×2 outputs (2.25× fewer), and it is done as 16 independent sgemms, one per
// transform position ξ, over all tiles at once:
//   forward        M[ξ] (Co, P)  = U[ξ] (Co, Ci) · V[ξ] (Ci, P),   U = G g Gᵀ,  V = Bᵀ d B,  y = Aᵀ M A
//   weight grad   dU[ξ] (Co, Ci) = Ŷ[ξ] (Co, P) · V[ξ]ᵀ,             Ŷ = A dy Aᵀ,  dg = Gᵀ dU G
//   input grad    the forward transform of dy with the flipped, transposed kernel.
// Tiles are processed in chunks of whole tile rows whose transforms stay in the core's cache.
// F(4×4, 3×3), in Winograd4.swift, shares this driver with 36 positions.

/// Transform matrices of F(2×2, 3×3), written out in the functions below:
///   Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1]   G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1]   Aᵀ = [1 1 1 0; 0 1 −1 −1]
enum Winograd {
    /// Floats of transforms per chunk (about 1 MB, within a core's L2).
    static let budget = 1 << 18
    /// VIDEOAGENT_CONV=im2col turns the Winograd path off (to compare, or to rule it out).
    static let enabled = ProcessInfo.processInfo.environment["VIDEOAGENT_CONV"] != "im2col"
    /// The tile size `automatic` uses for this convolution, or nil for im2col. With few tiles the
    /// products are too small for sgemm to pay for reading the larger transformed weights, and
    /// im2col wins (thresholds from `bench-nn --conv-layers` on 2 cores of an AMD EPYC). F(4×4)
    /// needs fewer products and wins per layer with cached weights, but in training its 36/9
    /// weight transforms per step cost more than that saves (the 32×32 step 15–25 % slower), and it
    /// did not speed up sampling either; it is off unless VIDEOAGENT_WINOGRAD_TILE=4 (then wherever
    /// there are enough 4×4 tiles).
    static func tile(for geo: ConvGeometry) -> Int? {
        guard isWinogradShape(geo) else { return nil }
        if forcedTile == 4 && tiles(geo, m: 4) >= 64 { return 4 }
        return tiles(geo, m: 2) >= 64 ? 2 : nil
    }

    static func isWinogradShape(_ geo: ConvGeometry) -> Bool {
        geo.kh == 3 && geo.kw == 3 && geo.stride == 1 && geo.padding == 1
    }

    /// Whether its backward pass pays too: the weight gradient sums over tiles, a short inner
    /// dimension for sgemm, so it needs more of them.
    static func appliesBackward(_ geo: ConvGeometry, tile: Int) -> Bool { tiles(geo, m: tile) >= (tile == 4 ? 64 : 256) }

    static func tiles(_ geo: ConvGeometry, m: Int) -> Int { geo.n * ((geo.h + m - 1) / m) * ((geo.w + m - 1) / m) }

    static let forcedTile: Int? = Int(ProcessInfo.processInfo.environment["VIDEOAGENT_WINOGRAD_TILE"] ?? "").flatMap {
        $0 == 4 ? $0 : nil
    }

    /// Tile rows of all images, chunked: a chunk's input and output transforms ((m+2)²·(Ci+Co)
    /// floats per tile) stay within about 1 MB where that still leaves 256 tiles.
    struct Tiling {
        let geo: ConvGeometry
        /// Output tile size: 2 for F(2×2, 3×3), 4 for F(4×4, 3×3); input tiles are m + 2 wide.
        let m: Int
        let tilesY, tilesX: Int
        let rowsPerChunk: Int
        init(_ geo: ConvGeometry, outChannels: Int, m: Int) {
            self.geo = geo
            self.m = m
            tilesY = (geo.h + m - 1) / m
            tilesX = (geo.w + m - 1) / m
            let perTile = (m + 2) * (m + 2) * (geo.ci + outChannels)
            // Chunks of about 1 MB of transforms, but at least 256 tiles, or sgemm spends its time
            // packing the (Co, Ci) matrices again for every small chunk. (One chunk for everything,
            // as large as 8 MB, was slower for the plan model: its transforms fell out of L2.)
            let rows = geo.n * tilesY
            let byBudget = Winograd.budget / max(1, perTile * tilesX)
            let size = max(1, min(rows, max(byBudget, (256 + tilesX - 1) / tilesX)))
            rowsPerChunk = Self.balanced(rows: rows, size: size, workers: Parallelism.workers)
        }

        /// Chunks are shared out whole to the cores: 7 chunks on 2 cores keep one core idle for
        /// one chunk in eight. Where there are at least as many chunks as cores, the chunk size
        /// is evened out so that each core gets the same number of tile rows (give or take one chunk
        /// row), slightly smaller chunks rather than an idle core.
        static func balanced(rows: Int, size: Int, workers: Int) -> Int {
            let chunks = (rows + size - 1) / size
            guard workers > 1, chunks >= workers else { return size }
            let even = (chunks + workers - 1) / workers * workers
            return max(1, (rows + even - 1) / even)
        }
        /// Transform positions ξ, one sgemm each.
        var positions: Int { (m + 2) * (m + 2) }
        var tileRows: Int { geo.n * tilesY }
        var chunks: Int { (tileRows + rowsPerChunk - 1) / rowsPerChunk }
        var maxTiles: Int { rowsPerChunk * tilesX }
        /// Global tile rows (image · tilesY + ty) of chunk `c`.
        func rows(ofChunk c: Int) -> Range<Int> { (c * rowsPerChunk)..<min(tileRows, (c + 1) * rowsPerChunk) }
    }

    // MARK: Forward

    /// out (N, Co, H, W) = conv3×3(x, weights transformed into `u` (16, Co, Ci)) + bias.
    static func forward(_ x: UnsafeMutablePointer<Float>, _ geo: ConvGeometry, m tile: Int, u: UnsafeMutablePointer<Float>,
                        co: Int, bias: UnsafeMutablePointer<Float>?, into out: UnsafeMutablePointer<Float>) {
        let tiling = Tiling(geo, outChannels: co, m: tile)
        let positions = tiling.positions
        let (px, pu, po) = (SharedPointer(x), SharedPointer(u), SharedPointer(out))
        let pb = bias.map { SharedPointer($0) }
        forEachChunk(tiling) { _, chunks, gemmWorkers in
            let v = Storage(uninitialized: positions * geo.ci * tiling.maxTiles)
            let m = Storage(uninitialized: positions * co * tiling.maxTiles)
            for c in chunks {
                let rows = tiling.rows(ofChunk: c)
                let p = rows.count * tiling.tilesX
                let (sv, sm) = (SharedPointer(v.pointer), SharedPointer(m.pointer))
                overChannels(geo.ci, parallel: gemmWorkers > 1) { inputTransform(px.base, tiling, rows: rows, channels: $0, into: sv.base) }
                forEachPosition(positions, workers: gemmWorkers) { xi in
                    BLAS.sgemm(m: co, n: p, k: geo.ci, a: pu + xi * co * geo.ci, lda: geo.ci,
                               b: sv + xi * geo.ci * p, ldb: p, c: sm + xi * co * p, ldc: p)
                }
                overChannels(co, parallel: gemmWorkers > 1) {
                    outputTransform(sm.base, tiling, co: co, rows: rows, channels: $0, bias: pb?.base, into: po.base)
                }
            }
            withExtendedLifetime((v, m)) {}  // the raw pointers above outlive their last Swift use
        }
    }

    /// U (16, Co, Ci) = G g Gᵀ for every (co, ci) kernel of `weight` (Co, Ci, 3, 3). With
    /// `flippedTransposed`, the kernels of the input gradient: (Ci, Co) pairs, each rotated 180°.
    /// Cached on the weight's storage until the weights change.
    static func transformedWeights(_ weight: Tensor, m tile: Int, flippedTransposed: Bool) -> Storage {
        let (co, ci) = (weight.shape[0], weight.shape[1])
        let source = SharedPointer(weight.storage.pointer)
        return weight.storage.derived("winograd\(tile)" + (flippedTransposed ? "-flipped" : "")) {
            let u = Storage(uninitialized: (tile + 2) * (tile + 2) * co * ci)
            let dst = SharedPointer(u.pointer)
            // Rows of each (16 ×) matrix are split over the cores and written in order.
            let (rows, columns) = flippedTransposed ? (ci, co) : (co, ci)
            parallelFor(rows, minimumPerWorker: max(1, 4096 / max(1, columns))) { range in
                for row in range {
                    for column in 0..<columns {
                        let (o, i) = flippedTransposed ? (column, row) : (row, column)
                        let index = row * columns + column
                        let kernel = source + (o * ci + i) * 9
                        if tile == 2 {
                            transformKernel(kernel, flipped: flippedTransposed, into: dst + index, stride: co * ci)
                        } else {
                            transformKernel4(kernel, flipped: flippedTransposed, into: dst + index, stride: co * ci)
                        }
                    }
                }
            }
            return u
        }
    }

    /// The 16 values of G k Gᵀ for one 3×3 kernel k (rotated 180° if `flipped`), `stride` apart.
    @inline(__always)
    private static func transformKernel(_ g: UnsafeMutablePointer<Float>, flipped: Bool, into dst: UnsafeMutablePointer<Float>,
                                        stride: Int) {
        var k = (g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7], g[8])
        if flipped { k = (k.8, k.7, k.6, k.5, k.4, k.3, k.2, k.1, k.0) }
        // Rows of G k (4×3), then each row times Gᵀ.
        @inline(__always) func row(_ a: Int, _ t0: Float, _ t1: Float, _ t2: Float) {
            dst[(a * 4) * stride] = t0
            dst[(a * 4 + 1) * stride] = 0.5 * (t0 + t1 + t2)
            dst[(a * 4 + 2) * stride] = 0.5 * (t0 - t1 + t2)
            dst[(a * 4 + 3) * stride] = t2
        }
        row(0, k.0, k.1, k.2)
        row(1, 0.5 * (k.0 + k.3 + k.6), 0.5 * (k.1 + k.4 + k.7), 0.5 * (k.2 + k.5 + k.8))
        row(2, 0.5 * (k.0 - k.3 + k.6), 0.5 * (k.1 - k.4 + k.7), 0.5 * (k.2 - k.5 + k.8))
        row(3, k.6, k.7, k.8)
    }

    // MARK: Weight gradient

    /// Writes dW (Co, Ci, 3, 3) of the convolution of x with output gradient g (N, Co, H, W) to `gw`.
    static func weightGradient(_ x: UnsafeMutablePointer<Float>, _ g: UnsafeMutablePointer<Float>, _ geo: ConvGeometry,
                               m tile: Int, into gw: UnsafeMutablePointer<Float>) {
        let tiling = Tiling(geo, outChannels: geo.co, m: tile)
        let positions = tiling.positions
        let (px, pg) = (SharedPointer(x), SharedPointer(g))
        let plane = geo.co * geo.ci
        guard tiling.chunks > 0 else { return gw.update(repeating: 0, count: plane * 9) }  // an empty batch
        let workers = Parallelism.workers
        // Each worker sums its chunks into its own dU; with fewer chunks than workers they share
        // one dU and split the 16 positions instead.
        // (One dU when everything is one chunk: the positions split, and dU can be large then.)
        // Each part is written by its worker's first chunk (β = 0) and summed into after.
        let parts = (0..<(tiling.chunks >= workers ? workers : 1)).map { _ in Storage(uninitialized: positions * plane) }
        let partPointers = parts.map { SharedPointer($0.pointer) }
        forEachChunk(tiling) { worker, chunks, gemmWorkers in
            let du = partPointers[worker]
            let v = Storage(uninitialized: positions * geo.ci * tiling.maxTiles)
            let yhat = Storage(uninitialized: positions * geo.co * tiling.maxTiles)
            for c in chunks {
                let rows = tiling.rows(ofChunk: c)
                let p = rows.count * tiling.tilesX
                let (sv, sy) = (SharedPointer(v.pointer), SharedPointer(yhat.pointer))
                overChannels(geo.ci, parallel: gemmWorkers > 1) { inputTransform(px.base, tiling, rows: rows, channels: $0, into: sv.base) }
                overChannels(geo.co, parallel: gemmWorkers > 1) {
                    gradientTransform(pg.base, tiling, co: geo.co, rows: rows, channels: $0, into: sy.base)
                }
                forEachPosition(positions, workers: gemmWorkers) { xi in
                    BLAS.sgemm(transB: true, m: geo.co, n: geo.ci, k: p, a: sy + xi * geo.co * p, lda: p,
                               b: sv + xi * geo.ci * p, ldb: p, beta: c == chunks.lowerBound ? 0 : 1, c: du + xi * plane,
                               ldc: geo.ci)
                }
            }
            withExtendedLifetime((v, yhat)) {}
        }
        defer { withExtendedLifetime(parts) {} }
        let du = parts[0].pointer
        for part in parts.dropFirst() { for j in 0..<(positions * plane) { du[j] += part.pointer[j] } }
        if tile == 4 {
            inverseWeightTransform4(du, plane: plane, into: gw)
            return
        }
        // dW = Gᵀ dU G for every kernel: columns of Gᵀ dU (3×4), then each row times G.
        for k in 0..<plane {
            @inline(__always) func u(_ a: Int, _ b: Int) -> Float { du[(a * 4 + b) * plane + k] }
            let dst = gw + k * 9
            for r in 0..<3 {
                var t = (Float(0), Float(0), Float(0), Float(0))
                for b in 0..<4 {
                    let value: Float
                    switch r {
                    case 0: value = u(0, b) + 0.5 * (u(1, b) + u(2, b))
                    case 1: value = 0.5 * (u(1, b) - u(2, b))
                    default: value = 0.5 * (u(1, b) + u(2, b)) + u(3, b)
                    }
                    switch b {
                    case 0: t.0 = value
                    case 1: t.1 = value
                    case 2: t.2 = value
                    default: t.3 = value
                    }
                }
                dst[r * 3] = t.0 + 0.5 * (t.1 + t.2)
                dst[r * 3 + 1] = 0.5 * (t.1 - t.2)
                dst[r * 3 + 2] = 0.5 * (t.1 + t.2) + t.3
            }
        }
    }

    // MARK: Transforms

    /// V (16, Ci, P) = Bᵀ d B for the 4×4 input tile of every tile in `rows`, zeros outside the image.
    static func inputTransform(_ x: UnsafeMutablePointer<Float>, _ tiling: Tiling, rows: Range<Int>, channels: Range<Int>? = nil,
                               into v: UnsafeMutablePointer<Float>) {
        if tiling.m == 4 { return inputTransform4(x, tiling, rows: rows, channels: channels, into: v) }
        let geo = tiling.geo
        let (h, w, tx) = (geo.h, geo.w, tiling.tilesX)
        let p = rows.count * tx
        let stride = geo.ci * p  // between positions ξ
        // One padded row per vertical transform output: column j holds input column j − 1.
        let width = 2 * tx + 2
        // Four rows per tile row of the chunk, then one row of zeros that stands in for input rows
        // outside the image. All vertical transforms of a channel are done before the horizontal
        // ones read them back: reading right after writing stalled on store forwarding.
        let block = 4 * width
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: rows.count * block + w)
        defer { buffer.deallocate() }
        buffer.initialize(repeating: 0, count: rows.count * block + w)
        let zeros = buffer + rows.count * block
        for c in channels ?? 0..<geo.ci {
            for (r, row) in rows.enumerated() {
                let (t0, t1, t2, t3) = (buffer + r * block, buffer + r * block + width, buffer + r * block + 2 * width,
                                        buffer + r * block + 3 * width)
                let (image, ty) = (row / tiling.tilesY, row % tiling.tilesY)
                let plane = x + (image * geo.ci + c) * h * w
                let y0 = 2 * ty - 1
                // Vertical: t = Bᵀ d over the four input rows y0…y0+3 (zero outside the image).
                let d0 = y0 >= 0 ? plane + y0 * w : zeros
                let d1 = y0 + 1 < h ? plane + (y0 + 1) * w : zeros
                let d2 = y0 + 2 < h ? plane + (y0 + 2) * w : zeros
                let d3 = y0 + 3 < h ? plane + (y0 + 3) * w : zeros
                // Explicit vectors: rows are 8 to 32 wide, too short for the compiler's own
                // vector loop (it unrolls to 16 or more and leaves short rows to scalar code).
                var j = 0
                while j + 8 <= w {
                    let (a, b, c, d) = (load8(d0 + j), load8(d1 + j), load8(d2 + j), load8(d3 + j))
                    store(a - c, t0 + j + 1); store(b + c, t1 + j + 1); store(c - b, t2 + j + 1); store(b - d, t3 + j + 1)
                    j += 8
                }
                while j < w {
                    let (a, b, c, d) = (d0[j], d1[j], d2[j], d3[j])
                    t0[j + 1] = a - c; t1[j + 1] = b + c; t2[j + 1] = c - b; t3[j + 1] = b - d
                    j += 1
                }
            }
            for r in 0..<rows.count {
                // Horizontal: each tile reads padded columns 2·tx … 2·tx+3.
                let base = v + c * p + r * tx
                for a in 0..<4 {
                    let t = buffer + r * block + a * width
                    let out0 = base + (a * 4) * stride, out1 = out0 + stride, out2 = out1 + stride, out3 = out2 + stride
                    var j = 0
                    // Eight (then four) tiles at once: even and odd columns of t[2j…] and of t[2j+2…].
                    while j + 8 <= tx {
                        let (near, far) = (load16(t + 2 * j), load16(t + 2 * j + 2))
                        storeInputRow(near.evenHalf, near.oddHalf, far.evenHalf, far.oddHalf, out0 + j, stride: stride)
                        j += 8
                    }
                    if j + 4 <= tx {
                        let (near, far) = (load8(t + 2 * j), load8(t + 2 * j + 2))
                        storeInputRow(near.evenHalf, near.oddHalf, far.evenHalf, far.oddHalf, out0 + j, stride: stride)
                        j += 4
                    }
                    while j < tx {
                        let (e0, e1, e2, e3) = (t[2 * j], t[2 * j + 1], t[2 * j + 2], t[2 * j + 3])
                        out0[j] = e0 - e2
                        out1[j] = e1 + e2
                        out2[j] = e2 - e1
                        out3[j] = e1 - e3
                        j += 1
                    }
                }
            }
        }
    }

    /// Ŷ (16, Co, P) = A dy Aᵀ for the 2×2 output-gradient tile of every tile in `rows`.
    static func gradientTransform(_ g: UnsafeMutablePointer<Float>, _ tiling: Tiling, co: Int, rows: Range<Int>, channels: Range<Int>? = nil,
                                  into yhat: UnsafeMutablePointer<Float>) {
        if tiling.m == 4 { return gradientTransform4(g, tiling, co: co, rows: rows, channels: channels, into: yhat) }
        let geo = tiling.geo
        let (h, w, tx) = (geo.h, geo.w, tiling.tilesX)
        let p = rows.count * tx
        let stride = co * p
        let width = 2 * tx
        // The rows, then a row of zeros for the missing bottom row of an odd height.
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: 4 * width + w)
        defer { buffer.deallocate() }
        buffer.initialize(repeating: 0, count: 4 * width + w)
        let (s0, s1, s2, s3) = (buffer, buffer + width, buffer + 2 * width, buffer + 3 * width)
        let zeros = buffer + 4 * width
        for c in channels ?? 0..<co {
            for (r, row) in rows.enumerated() {
                let (image, ty) = (row / tiling.tilesY, row % tiling.tilesY)
                let plane = g + (image * co + c) * h * w
                let top = plane + 2 * ty * w
                let bottom = 2 * ty + 1 < h ? top + w : zeros
                // Vertical: A (a, b) = (a, a + b, a − b, −b).
                var j = 0
                while j + 8 <= w {
                    let (a, b) = (load8(top + j), load8(bottom + j))
                    store(a, s0 + j); store(a + b, s1 + j); store(a - b, s2 + j); store(-b, s3 + j)
                    j += 8
                }
                while j < w {
                    let a = top[j], b = bottom[j]
                    s0[j] = a; s1[j] = a + b; s2[j] = a - b; s3[j] = -b
                    j += 1
                }
                let base = yhat + c * p + r * tx
                for k in 0..<4 {
                    let s = buffer + k * width
                    let out0 = base + (k * 4) * stride, out1 = out0 + stride, out2 = out1 + stride, out3 = out2 + stride
                    var j = 0  // s[w] stays 0 for an odd width
                    while j + 8 <= tx {
                        let pair = load16(s + 2 * j)
                        storeGradientRow(pair.evenHalf, pair.oddHalf, out0 + j, stride: stride)
                        j += 8
                    }
                    if j + 4 <= tx {
                        let pair = load8(s + 2 * j)
                        storeGradientRow(pair.evenHalf, pair.oddHalf, out0 + j, stride: stride)
                        j += 4
                    }
                    while j < tx {
                        let (a, b) = (s[2 * j], s[2 * j + 1])
                        out0[j] = a
                        out1[j] = a + b
                        out2[j] = a - b
                        out3[j] = -b
                        j += 1
                    }
                }
            }
        }
    }

    /// y = Aᵀ M A for every tile in `rows`, plus the bias, written where the tile lies in the image.
    static func outputTransform(_ m: UnsafeMutablePointer<Float>, _ tiling: Tiling, co: Int, rows: Range<Int>, channels: Range<Int>? = nil,
                                bias: UnsafeMutablePointer<Float>?, into out: UnsafeMutablePointer<Float>) {
        if tiling.m == 4 { return outputTransform4(m, tiling, co: co, rows: rows, channels: channels, bias: bias, into: out) }
        let geo = tiling.geo
        let (h, w, tx) = (geo.h, geo.w, tiling.tilesX)
        let p = rows.count * tx
        let stride = co * p
        let width = 2 * tx
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: 2 * width)
        defer { buffer.deallocate() }
        let (top, bottom) = (buffer, buffer + width)
        for c in channels ?? 0..<co {
            let b = bias?[c] ?? 0
            for (r, row) in rows.enumerated() {
                let (image, ty) = (row / tiling.tilesY, row % tiling.tilesY)
                let base = m + c * p + r * tx
                // Rows of Aᵀ M (2×4): upper_b = m0b + m1b + m2b, lower_b = m1b − m2b − m3b; then
                // their columns times A give the even and odd output columns.
                @inline(__always) func v(_ a: Int, _ c: Int, _ j: Int) -> SIMD8<Float> { load8(base + (a * 4 + c) * stride + j) }
                var j = 0
                while j + 8 <= tx {
                    let u0 = v(0, 0, j) + v(1, 0, j) + v(2, 0, j), l0 = v(1, 0, j) - v(2, 0, j) - v(3, 0, j)
                    let u1 = v(0, 1, j) + v(1, 1, j) + v(2, 1, j), l1 = v(1, 1, j) - v(2, 1, j) - v(3, 1, j)
                    let u2 = v(0, 2, j) + v(1, 2, j) + v(2, 2, j), l2 = v(1, 2, j) - v(2, 2, j) - v(3, 2, j)
                    let u3 = v(0, 3, j) + v(1, 3, j) + v(2, 3, j), l3 = v(1, 3, j) - v(2, 3, j) - v(3, 3, j)
                    let bias = SIMD8<Float>(repeating: b)
                    storeInterleaved(u0 + u1 + u2 + bias, u1 - u2 - u3 + bias, top + 2 * j)
                    storeInterleaved(l0 + l1 + l2 + bias, l1 - l2 - l3 + bias, bottom + 2 * j)
                    j += 8
                }
                if j + 4 <= tx {
                    @inline(__always) func v4(_ a: Int, _ c: Int) -> SIMD4<Float> {
                        UnsafeRawPointer(base + (a * 4 + c) * stride + j).loadUnaligned(as: SIMD4<Float>.self)
                    }
                    let u0 = v4(0, 0) + v4(1, 0) + v4(2, 0), l0 = v4(1, 0) - v4(2, 0) - v4(3, 0)
                    let u1 = v4(0, 1) + v4(1, 1) + v4(2, 1), l1 = v4(1, 1) - v4(2, 1) - v4(3, 1)
                    let u2 = v4(0, 2) + v4(1, 2) + v4(2, 2), l2 = v4(1, 2) - v4(2, 2) - v4(3, 2)
                    let u3 = v4(0, 3) + v4(1, 3) + v4(2, 3), l3 = v4(1, 3) - v4(2, 3) - v4(3, 3)
                    let bias = SIMD4<Float>(repeating: b)
                    let (te, to) = (u0 + u1 + u2 + bias, u1 - u2 - u3 + bias)
                    let (be, bo) = (l0 + l1 + l2 + bias, l1 - l2 - l3 + bias)
                    UnsafeMutableRawPointer(top + 2 * j).storeBytes(
                        of: SIMD8<Float>(te[0], to[0], te[1], to[1], te[2], to[2], te[3], to[3]), as: SIMD8<Float>.self)
                    UnsafeMutableRawPointer(bottom + 2 * j).storeBytes(
                        of: SIMD8<Float>(be[0], bo[0], be[1], bo[1], be[2], bo[2], be[3], bo[3]), as: SIMD8<Float>.self)
                    j += 4
                }
                while j < tx {
                    @inline(__always) func e(_ a: Int, _ c: Int) -> Float { base[(a * 4 + c) * stride + j] }
                    let u0 = e(0, 0) + e(1, 0) + e(2, 0), l0 = e(1, 0) - e(2, 0) - e(3, 0)
                    let u1 = e(0, 1) + e(1, 1) + e(2, 1), l1 = e(1, 1) - e(2, 1) - e(3, 1)
                    let u2 = e(0, 2) + e(1, 2) + e(2, 2), l2 = e(1, 2) - e(2, 2) - e(3, 2)
                    let u3 = e(0, 3) + e(1, 3) + e(2, 3), l3 = e(1, 3) - e(2, 3) - e(3, 3)
                    top[2 * j] = u0 + u1 + u2 + b
                    top[2 * j + 1] = u1 - u2 - u3 + b
                    bottom[2 * j] = l0 + l1 + l2 + b
                    bottom[2 * j + 1] = l1 - l2 - l3 + b
                    j += 1
                }
                let plane = out + (image * co + c) * h * w
                (plane + 2 * ty * w).update(from: top, count: w)
                if 2 * ty + 1 < h { (plane + (2 * ty + 1) * w).update(from: bottom, count: w) }
            }
        }
    }

    // MARK: Vector loads and stores (unaligned)

    /// Bᵀ along a row for a vector of tiles, (e0 − e2, e1 + e2, e2 − e1, e1 − e3), to `out` + k·stride.
    @inline(__always)
    private static func storeInputRow<V: SIMD>(_ e0: V, _ e1: V, _ e2: V, _ e3: V, _ out: UnsafeMutablePointer<Float>,
                                               stride: Int) where V.Scalar == Float {
        store(e0 - e2, out); store(e1 + e2, out + stride); store(e2 - e1, out + 2 * stride); store(e1 - e3, out + 3 * stride)
    }

    /// A along a row for a vector of tiles, (a, a + b, a − b, −b), to `out` + k·stride.
    @inline(__always)
    private static func storeGradientRow<V: SIMD>(_ a: V, _ b: V, _ out: UnsafeMutablePointer<Float>, stride: Int)
        where V.Scalar == Float {
        store(a, out); store(a + b, out + stride); store(a - b, out + 2 * stride); store(V() - b, out + 3 * stride)
    }

    @inline(__always) static func store<V: SIMD>(_ v: V, _ p: UnsafeMutablePointer<Float>) where V.Scalar == Float {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self)
    }

    @inline(__always) static func load16(_ p: UnsafeMutablePointer<Float>) -> SIMD16<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
    }

    @inline(__always) static func load8(_ p: UnsafeMutablePointer<Float>) -> SIMD8<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
    }

    /// p[2i] = even[i], p[2i + 1] = odd[i] for the eight lanes.
    @inline(__always) private static func storeInterleaved(_ even: SIMD8<Float>, _ odd: SIMD8<Float>,
                                                           _ p: UnsafeMutablePointer<Float>) {
        let v = SIMD16<Float>(even[0], odd[0], even[1], odd[1], even[2], odd[2], even[3], odd[3],
                              even[4], odd[4], even[5], odd[5], even[6], odd[6], even[7], odd[7])
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD16<Float>.self)
    }

    // MARK: Work division

    /// Spreads chunks over the cores: `body(worker, chunks, gemmWorkers)`. With fewer chunks than cores,
    /// one caller takes them all and splits each chunk's 16 products across `gemmWorkers` cores.
    private static func forEachChunk(_ tiling: Tiling, _ body: (Int, Range<Int>, Int) -> Void) {
        let workers = Parallelism.workers
        let chunks = tiling.chunks
        if chunks < workers || workers == 1 {
            body(0, 0..<chunks, workers)
            return
        }
        forkJoin(splitting: chunks, into: workers) { w, range in body(w, range, 1) }
    }

    /// Runs a transform over `count` channels, split over the cores when `parallel`.
    private static func overChannels(_ count: Int, parallel: Bool, _ body: (Range<Int>) -> Void) {
        guard parallel else { return body(0..<count) }
        parallelFor(count, minimumPerWorker: 1, body)
    }

    /// Runs `body(ξ)` for the transform positions, split over `workers` cores.
    private static func forEachPosition(_ positions: Int, workers: Int, _ body: (Int) -> Void) {
        if workers <= 1 {
            for xi in 0..<positions { body(xi) }
            return
        }
        forkJoin(splitting: positions, into: workers) { _, range in range.forEach(body) }
    }
}

import Foundation
