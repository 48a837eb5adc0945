// The transforms of F(4×4, 3×3): 6×6 input tiles, 4×4 output tiles, 36 sgemms. Per output it
// multiplies 36/16 = 2.25 times per channel pair instead of 9 (F(2×2, 3×3): 4), and moves
// 2.25 transformed values instead of 4. Interpolation points 0, ±1, ±2 (Lavin & Gray):
//   Bᵀ = [4 0 −5 0 1 0; 0 −4 −4 1 1 0; 0 4 −4 −1 1 0; 0 −2 −1 2 1 0; 0 2 −1 −2 1 0; 0 4 0 −5 0 1]
//   G  = [¼ 0 0; −⅙ −⅙ −⅙; −⅙ ⅙ −⅙; 1⁄24 1⁄12 ⅙; 1⁄24 −1⁄12 ⅙; 0 0 1]
//   Aᵀ = [1 1 1 1 1 0; 0 1 −1 2 −2 0; 0 1 1 4 4 0; 0 1 −1 8 −8 1]
// Each 2-D transform is the 1-D one down the columns, then along the rows.

extension Winograd {
    /// Bᵀ d for six values.
    @inline(__always)
    static func inputColumn(_ d0: Float, _ d1: Float, _ d2: Float, _ d3: Float, _ d4: Float, _ d5: Float)
        -> (Float, Float, Float, Float, Float, Float) {
        (4 * d0 - 5 * d2 + d4, d3 + d4 - 4 * (d1 + d2), 4 * (d1 - d2) - d3 + d4,
         2 * (d3 - d1) - d2 + d4, 2 * (d1 - d3) - d2 + d4, 4 * d1 - 5 * d3 + d5)
    }

    /// Bᵀ d for six vectors (eight tiles at once).
    @inline(__always)
    static func inputColumn(_ d0: SIMD8<Float>, _ d1: SIMD8<Float>, _ d2: SIMD8<Float>, _ d3: SIMD8<Float>,
                            _ d4: SIMD8<Float>, _ d5: SIMD8<Float>)
        -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
        (4 * d0 - 5 * d2 + d4, d3 + d4 - 4 * (d1 + d2), 4 * (d1 - d2) - d3 + d4,
         2 * (d3 - d1) - d2 + d4, 2 * (d1 - d3) - d2 + d4, 4 * d1 - 5 * d3 + d5)
    }

    /// Aᵀ m for six vectors (eight tiles at once).
    @inline(__always)
    static func outputColumn(_ m0: SIMD8<Float>, _ m1: SIMD8<Float>, _ m2: SIMD8<Float>, _ m3: SIMD8<Float>,
                             _ m4: SIMD8<Float>, _ m5: SIMD8<Float>) -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
        let (a, b, c, d) = (m1 + m2, m1 - m2, m3 + m4, m3 - m4)
        return (m0 + a + c, b + 2 * d, a + 4 * c, b + 8 * d + m5)
    }

    /// Values k, k+4, k+8, … of 32 floats from `p`: lane i of the result is p[4i + k] (eight tiles).
    @inline(__always)
    static func everyFourth(_ p: UnsafeMutablePointer<Float>) -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
        let (low, high) = (load16(p), load16(p + 16))
        let (le, lo, he, ho) = (low.evenHalf, low.oddHalf, high.evenHalf, high.oddHalf)
        return (SIMD8(lowHalf: le.evenHalf, highHalf: he.evenHalf), SIMD8(lowHalf: lo.evenHalf, highHalf: ho.evenHalf),
                SIMD8(lowHalf: le.oddHalf, highHalf: he.oddHalf), SIMD8(lowHalf: lo.oddHalf, highHalf: ho.oddHalf))
    }

    /// G k for three values.
    @inline(__always)
    static func kernelColumn(_ k0: Float, _ k1: Float, _ k2: Float) -> (Float, Float, Float, Float, Float, Float) {
        let sum = k0 + k2
        return (0.25 * k0, -(sum + k1) / 6, -(sum - k1) / 6, k0 / 24 + k1 / 12 + k2 / 6, k0 / 24 - k1 / 12 + k2 / 6, k2)
    }

    /// Aᵀ m for six values.
    @inline(__always)
    static func outputColumn(_ m0: Float, _ m1: Float, _ m2: Float, _ m3: Float, _ m4: Float, _ m5: Float)
        -> (Float, Float, Float, Float) {
        let (a, b, c, d) = (m1 + m2, m1 - m2, m3 + m4, m3 - m4)
        return (m0 + a + c, b + 2 * d, a + 4 * c, b + 8 * d + m5)
    }

    /// A y for four values (the adjoint of Aᵀ).
    @inline(__always)
    static func gradientColumn(_ y0: Float, _ y1: Float, _ y2: Float, _ y3: Float) -> (Float, Float, Float, Float, Float, Float) {
        (y0, y0 + y1 + y2 + y3, y0 - y1 + y2 - y3, y0 + 2 * y1 + 4 * y2 + 8 * y3, y0 - 2 * y1 + 4 * y2 - 8 * y3, y3)
    }

    /// Gᵀ u for six values (the adjoint of G).
    @inline(__always)
    static func weightGradientColumn(_ u: (Float, Float, Float, Float, Float, Float)) -> (Float, Float, Float) {
        (0.25 * u.0 - (u.1 + u.2) / 6 + (u.3 + u.4) / 24,
         (u.2 - u.1) / 6 + (u.3 - u.4) / 12,
         (u.3 + u.4 - u.1 - u.2) / 6 + u.5)
    }

    /// The 36 values of G k Gᵀ for one 3×3 kernel k (rotated 180° if `flipped`), `stride` apart.
    @inline(__always)
    static func transformKernel4(_ g: UnsafeMutablePointer<Float>, flipped: Bool, into dst: UnsafeMutablePointer<Float>,
                                 stride: Int) {
        @inline(__always) func k(_ r: Int, _ c: Int) -> Float { flipped ? g[8 - (r * 3 + c)] : g[r * 3 + c] }
        let c0 = kernelColumn(k(0, 0), k(1, 0), k(2, 0))
        let c1 = kernelColumn(k(0, 1), k(1, 1), k(2, 1))
        let c2 = kernelColumn(k(0, 2), k(1, 2), k(2, 2))
        @inline(__always) func row(_ a: Int, _ t0: Float, _ t1: Float, _ t2: Float) {
            let r = kernelColumn(t0, t1, t2)
            let base = dst + a * 6 * stride
            base[0] = r.0; base[stride] = r.1; base[2 * stride] = r.2
            base[3 * stride] = r.3; base[4 * stride] = r.4; base[5 * stride] = r.5
        }
        row(0, c0.0, c1.0, c2.0); row(1, c0.1, c1.1, c2.1); row(2, c0.2, c1.2, c2.2)
        row(3, c0.3, c1.3, c2.3); row(4, c0.4, c1.4, c2.4); row(5, c0.5, c1.5, c2.5)
    }

    /// Sets dW (plane kernels of 3×3) = Gᵀ dU G from dU (36, plane).
    static func inverseWeightTransform4(_ du: UnsafeMutablePointer<Float>, plane: Int, into gw: UnsafeMutablePointer<Float>) {
        for k in 0..<plane {
            @inline(__always) func u(_ a: Int, _ b: Int) -> Float { du[(a * 6 + b) * plane + k] }
            @inline(__always) func column(_ b: Int) -> (Float, Float, Float) {
                weightGradientColumn((u(0, b), u(1, b), u(2, b), u(3, b), u(4, b), u(5, b)))
            }
            let (c0, c1, c2, c3, c4, c5) = (column(0), column(1), column(2), column(3), column(4), column(5))
            let r0 = weightGradientColumn((c0.0, c1.0, c2.0, c3.0, c4.0, c5.0))
            let r1 = weightGradientColumn((c0.1, c1.1, c2.1, c3.1, c4.1, c5.1))
            let r2 = weightGradientColumn((c0.2, c1.2, c2.2, c3.2, c4.2, c5.2))
            let dst = gw + k * 9
            dst[0] = r0.0; dst[1] = r0.1; dst[2] = r0.2
            dst[3] = r1.0; dst[4] = r1.1; dst[5] = r1.2
            dst[6] = r2.0; dst[7] = r2.1; dst[8] = r2.2
        }
    }

    /// V (36, Ci, P) = Bᵀ d B for the 6×6 input tile of every tile in `rows`, zeros outside the image.
    static func inputTransform4(_ x: UnsafeMutablePointer<Float>, _ tiling: Tiling, rows: Range<Int>, channels: Range<Int>? = nil,
                                into v: UnsafeMutablePointer<Float>) {
        let geo = tiling.geo
        let (h, w, tx) = (geo.h, geo.w, tiling.tilesX)
        let p = rows.count * tx
        let stride = geo.ci * p
        // Six padded rows of Bᵀ d: column j holds input column j − 1; tile j reads 4j … 4j+5
        // (eight tiles read 36 columns from 4j: two spare zero columns).
        let width = 4 * tx + 4
        // The six rows, then a row of zeros that stands in for input rows outside the image.
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: 6 * width + w)
        defer { buffer.deallocate() }
        buffer.initialize(repeating: 0, count: 6 * width + w)
        let zeros = buffer + 6 * width
        let t = (buffer + 1, buffer + 1 + width, buffer + 1 + 2 * width, buffer + 1 + 3 * width, buffer + 1 + 4 * width,
                 buffer + 1 + 5 * width)
        for c in channels ?? 0..<geo.ci {
            for (r, row) in rows.enumerated() {
                let (image, ty) = (row / tiling.tilesY, row % tiling.tilesY)
                let plane = x + (image * geo.ci + c) * h * w
                let y0 = 4 * ty - 1
                @inline(__always) func input(_ i: Int) -> UnsafeMutablePointer<Float> {
                    y0 + i >= 0 && y0 + i < h ? plane + (y0 + i) * w : zeros
                }
                let (d0, d1, d2, d3, d4, d5) = (input(0), input(1), input(2), input(3), input(4), input(5))
                for j in 0..<w {
                    let o = inputColumn(d0[j], d1[j], d2[j], d3[j], d4[j], d5[j])
                    t.0[j] = o.0; t.1[j] = o.1; t.2[j] = o.2; t.3[j] = o.3; t.4[j] = o.4; t.5[j] = o.5
                }
                let base = v + c * p + r * tx
                for a in 0..<6 {
                    let e = buffer + a * width
                    let out = base + a * 6 * stride
                    var j = 0
                    while j + 8 <= tx {
                        let (q0, q1, q2, q3) = everyFourth(e + 4 * j)
                        let (q4, q5, _, _) = everyFourth(e + 4 * j + 4)
                        let o = inputColumn(q0, q1, q2, q3, q4, q5)
                        store(o.0, out + j); store(o.1, out + stride + j); store(o.2, out + 2 * stride + j)
                        store(o.3, out + 3 * stride + j); store(o.4, out + 4 * stride + j); store(o.5, out + 5 * stride + j)
                        j += 8
                    }
                    while j < tx {
                        let q = e + 4 * j
                        let o = inputColumn(q[0], q[1], q[2], q[3], q[4], q[5])
                        out[j] = o.0; out[stride + j] = o.1; out[2 * stride + j] = o.2
                        out[3 * stride + j] = o.3; out[4 * stride + j] = o.4; out[5 * stride + j] = o.5
                        j += 1
                    }
                }
            }
        }
    }

    /// Ŷ (36, Co, P) = A dy Aᵀ for the 4×4 output-gradient tile of every tile in `rows`.
    static func gradientTransform4(_ g: UnsafeMutablePointer<Float>, _ tiling: Tiling, co: Int, rows: Range<Int>, channels: Range<Int>? = nil,
                                   into yhat: UnsafeMutablePointer<Float>) {
        let geo = tiling.geo
        let (h, w, tx) = (geo.h, geo.w, tiling.tilesX)
        let p = rows.count * tx
        let stride = co * p
        let width = 4 * tx  // beyond w stays 0
        // The six rows, then a row of zeros for gradient rows below the image.
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: 6 * width + w)
        defer { buffer.deallocate() }
        buffer.initialize(repeating: 0, count: 6 * width + w)
        let zeros = buffer + 6 * width
        let s = (buffer, buffer + width, buffer + 2 * width, buffer + 3 * width, buffer + 4 * width, buffer + 5 * width)
        for c in channels ?? 0..<co {
            for (r, row) in rows.enumerated() {
                let (image, ty) = (row / tiling.tilesY, row % tiling.tilesY)
                let plane = g + (image * co + c) * h * w
                @inline(__always) func input(_ i: Int) -> UnsafeMutablePointer<Float> {
                    4 * ty + i < h ? plane + (4 * ty + i) * w : zeros
                }
                let (d0, d1, d2, d3) = (input(0), input(1), input(2), input(3))
                for j in 0..<w {
                    let o = gradientColumn(d0[j], d1[j], d2[j], d3[j])
                    s.0[j] = o.0; s.1[j] = o.1; s.2[j] = o.2; s.3[j] = o.3; s.4[j] = o.4; s.5[j] = o.5
                }
                let base = yhat + c * p + r * tx
                for a in 0..<6 {
                    let e = buffer + a * width
                    let out = base + a * 6 * stride
                    var j = 0
                    while j + 8 <= tx {
                        let (y0, y1, y2, y3) = everyFourth(e + 4 * j)
                        store(y0, out + j); store(y0 + y1 + y2 + y3, out + stride + j)
                        store(y0 - y1 + y2 - y3, out + 2 * stride + j)
                        store(y0 + 2 * y1 + 4 * y2 + 8 * y3, out + 3 * stride + j)
                        store(y0 - 2 * y1 + 4 * y2 - 8 * y3, out + 4 * stride + j); store(y3, out + 5 * stride + j)
                        j += 8
                    }
                    while j < tx {
                        let q = e + 4 * j
                        let o = gradientColumn(q[0], q[1], q[2], q[3])
                        out[j] = o.0; out[stride + j] = o.1; out[2 * stride + j] = o.2
                        out[3 * stride + j] = o.3; out[4 * stride + j] = o.4; out[5 * stride + j] = o.5
                        j += 1
                    }
                }
            }
        }
    }

    /// y = Aᵀ M A for every tile in `rows`, plus the bias, written where the tile lies in the image.
    static func outputTransform4(_ m: UnsafeMutablePointer<Float>, _ tiling: Tiling, co: Int, rows: Range<Int>, channels: Range<Int>? = nil,
                                 bias: UnsafeMutablePointer<Float>?, into out: UnsafeMutablePointer<Float>) {
        let geo = tiling.geo
        let (h, w, tx) = (geo.h, geo.w, tiling.tilesX)
        let p = rows.count * tx
        let stride = co * p
        let width = 4 * tx
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: 4 * width)
        defer { buffer.deallocate() }
        for c in channels ?? 0..<co {
            let b = bias?[c] ?? 0
            for (r, row) in rows.enumerated() {
                let (image, ty) = (row / tiling.tilesY, row % tiling.tilesY)
                let base = m + c * p + r * tx
                var j = 0
                while j + 8 <= tx {
                    @inline(__always) func column(_ col: Int) -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
                        let q = base + col * stride + j
                        return outputColumn(load8(q), load8(q + 6 * stride), load8(q + 12 * stride), load8(q + 18 * stride),
                                            load8(q + 24 * stride), load8(q + 30 * stride))
                    }
                    let (c0, c1, c2, c3, c4, c5) = (column(0), column(1), column(2), column(3), column(4), column(5))
                    let bias = SIMD8<Float>(repeating: b)
                    @inline(__always) func put(_ i: Int, _ y: (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>)) {
                        let dst = buffer + i * width + 4 * j
                        let (y0, y1, y2, y3) = (y.0 + bias, y.1 + bias, y.2 + bias, y.3 + bias)
                        for l in 0..<8 {
                            dst[4 * l] = y0[l]; dst[4 * l + 1] = y1[l]; dst[4 * l + 2] = y2[l]; dst[4 * l + 3] = y3[l]
                        }
                    }
                    put(0, outputColumn(c0.0, c1.0, c2.0, c3.0, c4.0, c5.0))
                    put(1, outputColumn(c0.1, c1.1, c2.1, c3.1, c4.1, c5.1))
                    put(2, outputColumn(c0.2, c1.2, c2.2, c3.2, c4.2, c5.2))
                    put(3, outputColumn(c0.3, c1.3, c2.3, c3.3, c4.3, c5.3))
                    j += 8
                }
                while j < tx {
                    @inline(__always) func column(_ col: Int) -> (Float, Float, Float, Float) {
                        let q = base + col * stride + j
                        return outputColumn(q[0], q[6 * stride], q[12 * stride], q[18 * stride], q[24 * stride], q[30 * stride])
                    }
                    let (c0, c1, c2, c3, c4, c5) = (column(0), column(1), column(2), column(3), column(4), column(5))
                    let y0 = outputColumn(c0.0, c1.0, c2.0, c3.0, c4.0, c5.0)
                    let y1 = outputColumn(c0.1, c1.1, c2.1, c3.1, c4.1, c5.1)
                    let y2 = outputColumn(c0.2, c1.2, c2.2, c3.2, c4.2, c5.2)
                    let y3 = outputColumn(c0.3, c1.3, c2.3, c3.3, c4.3, c5.3)
                    @inline(__always) func put(_ i: Int, _ y: (Float, Float, Float, Float)) {
                        let dst = buffer + i * width + 4 * j
                        dst[0] = y.0 + b; dst[1] = y.1 + b; dst[2] = y.2 + b; dst[3] = y.3 + b
                    }
                    put(0, y0); put(1, y1); put(2, y2); put(3, y3)
                    j += 1
                }
                let plane = out + (image * co + c) * h * w
                for i in 0..<4 where 4 * ty + i < h {
                    (plane + (4 * ty + i) * w).update(from: buffer + i * width, count: w)
                }
            }
        }
    }
}
