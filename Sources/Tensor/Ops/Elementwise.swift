// Element-wise arithmetic with broadcasting, and unary functions, each with its gradient.

protocol BinaryKernel {
    static func apply(_ a: Float, _ b: Float) -> Float
}
enum AddKernel: BinaryKernel { @inline(__always) static func apply(_ a: Float, _ b: Float) -> Float { a + b } }
enum SubKernel: BinaryKernel { @inline(__always) static func apply(_ a: Float, _ b: Float) -> Float { a - b } }
enum MulKernel: BinaryKernel { @inline(__always) static func apply(_ a: Float, _ b: Float) -> Float { a * b } }
enum DivKernel: BinaryKernel { @inline(__always) static func apply(_ a: Float, _ b: Float) -> Float { a / b } }

/// out = K(a, b) with broadcasting; no autodiff.
func broadcastKernel<K: BinaryKernel>(_: K.Type, _ a: Tensor, _ b: Tensor) -> Tensor {
    guard let shape = BroadcastLayout.shape(a.shape, b.shape) else {
        preconditionFailure("shapes \(a.shape) and \(b.shape) do not broadcast")
    }
    let out = Tensor.empty(shape)
    let pa = SharedPointer(a.storage.pointer), pb = SharedPointer(b.storage.pointer), po = SharedPointer(out.storage.pointer)
    if a.shape == b.shape {
        parallelFor(out.count) { r in for i in r { po[i] = K.apply(pa[i], pb[i]) } }
        return out
    }
    if b.count == 1 {
        let s = pb[0]
        parallelFor(out.count) { r in for i in r { po[i] = K.apply(pa[i], s) } }
        return out
    }
    if a.count == 1 {
        let s = pa[0]
        parallelFor(out.count) { r in for i in r { po[i] = K.apply(s, pb[i]) } }
        return out
    }
    let layout = BroadcastLayout(output: shape, inputs: [a.shape, b.shape])
    let n = layout.inner
    let (sa, sb) = (layout.innerStride(0), layout.innerStride(1))
    layout.forEachRow { row, offsets in
        let o = po + row * n, x = pa + offsets[0], y = pb + offsets[1]
        switch (sa, sb) {
        case (1, 1): for i in 0..<n { o[i] = K.apply(x[i], y[i]) }
        case (1, 0): let v = y[0]; for i in 0..<n { o[i] = K.apply(x[i], v) }
        case (0, 1): let v = x[0]; for i in 0..<n { o[i] = K.apply(v, y[i]) }
        default: for i in 0..<n { o[i] = K.apply(x[i * sa], y[i * sb]) }
        }
    }
    return out
}

extension Tensor {
    /// Sums this tensor down to `target` (the shape it was broadcast from): the gradient of a broadcast.
    public func sum(to target: [Int]) -> Tensor {
        if target == shape { return self }
        let out = Tensor.zeros(target)
        let layout = BroadcastLayout(output: shape, inputs: [shape, target])
        let n = layout.inner
        let st = layout.innerStride(1)
        let pg = storage.pointer, po = out.storage.pointer
        layout.forEachRow { row, offsets in
            let g = pg + offsets[0], o = po + offsets[1]
            if st == 0 {
                o[0] += sumOf(g, count: n)
            } else {
                for i in 0..<n { o[i * st] += g[i] }
            }
        }
        let result = Tensor.result(out, inputs: [self]) { [shape] g in
            // The gradient of a sum-to is a broadcast back.
            self.accumulateGrad(g.expand(to: shape))
        }
        return result
    }

    /// This tensor broadcast to `shape` (a copy).
    public func expand(to target: [Int]) -> Tensor {
        if target == shape { return self }
        precondition(BroadcastLayout.shape(shape, target) == target, "cannot expand \(shape) to \(target)")
        let out = broadcastKernel(AddKernel.self, Tensor.zeros(target), self.detached())
        return Tensor.result(out, inputs: [self]) { [shape] g in self.accumulateGrad(g.sum(to: shape)) }
    }

    public static func + (a: Tensor, b: Tensor) -> Tensor {
        let out = broadcastKernel(AddKernel.self, a, b)
        return result(out, inputs: [a, b]) { g in
            if a.requiresGrad { a.accumulateGrad(g.sum(to: a.shape)) }
            if b.requiresGrad { b.accumulateGrad(g.sum(to: b.shape)) }
        }
    }

    public static func - (a: Tensor, b: Tensor) -> Tensor {
        let out = broadcastKernel(SubKernel.self, a, b)
        return result(out, inputs: [a, b]) { g in
            if a.requiresGrad { a.accumulateGrad(g.sum(to: a.shape)) }
            if b.requiresGrad { b.accumulateGrad(g.sum(to: b.shape).scaled(-1)) }
        }
    }

    public static func * (a: Tensor, b: Tensor) -> Tensor {
        let out = broadcastKernel(MulKernel.self, a, b)
        return result(out, inputs: [a, b]) { g in
            if a.requiresGrad { a.accumulateGrad(broadcastKernel(MulKernel.self, g, b).sum(to: a.shape)) }
            if b.requiresGrad { b.accumulateGrad(broadcastKernel(MulKernel.self, g, a).sum(to: b.shape)) }
        }
    }

    public static func / (a: Tensor, b: Tensor) -> Tensor {
        let out = broadcastKernel(DivKernel.self, a, b)
        return result(out, inputs: [a, b]) { g in
            let gOverB = broadcastKernel(DivKernel.self, g, b)
            if a.requiresGrad { a.accumulateGrad(gOverB.sum(to: a.shape)) }
            if b.requiresGrad {
                // d(a/b)/db = -a/b² = -(a/b)/b
                let gb = broadcastKernel(MulKernel.self, gOverB, broadcastKernel(DivKernel.self, a, b))
                b.accumulateGrad(gb.sum(to: b.shape).scaled(-1))
            }
        }
    }

    public static prefix func - (a: Tensor) -> Tensor { a.scaled(-1) }

    public static func * (a: Tensor, s: Float) -> Tensor { a.scaled(s) }
    public static func * (s: Float, a: Tensor) -> Tensor { a.scaled(s) }
    public static func + (a: Tensor, s: Float) -> Tensor { a.shifted(s) }
    public static func - (a: Tensor, s: Float) -> Tensor { a.shifted(-s) }

    /// self · s
    public func scaled(_ s: Float) -> Tensor {
        let out = Tensor.empty(shape)
        let px = SharedPointer(storage.pointer), po = SharedPointer(out.storage.pointer)
        parallelFor(count) { r in for i in r { po[i] = px[i] * s } }
        return Tensor.result(out, inputs: [self]) { g in self.accumulateGrad(g.scaled(s)) }
    }

    /// self + s
    public func shifted(_ s: Float) -> Tensor {
        let out = Tensor.empty(shape)
        let px = SharedPointer(storage.pointer), po = SharedPointer(out.storage.pointer)
        parallelFor(count) { r in for i in r { po[i] = px[i] + s } }
        return Tensor.result(out, inputs: [self]) { g in self.accumulateGrad(g) }
    }

    /// Applies kernel `K` to every element, with its derivative for the backward pass.
    func unary<K: UnaryKernel>(_: K.Type) -> Tensor {
        let out = Tensor.empty(shape)
        let px = SharedPointer(storage.pointer), po = SharedPointer(out.storage.pointer)
        parallelFor(count, minimumPerWorker: 16_384) { r in for i in r { po[i] = K.f(px[i]) } }
        return Tensor.result(out, inputs: [self]) { g in
            let gx = Tensor.empty(self.shape)
            let pg = SharedPointer(g.storage.pointer), pgx = SharedPointer(gx.storage.pointer)
            parallelFor(self.count, minimumPerWorker: 16_384) { r in
                for i in r { pgx[i] = pg[i] * K.df(px[i], po[i]) }
            }
            self.accumulateGrad(gx)
        }
    }

    public func exp() -> Tensor { unary(ExpKernel.self) }
    public func log() -> Tensor { unary(LogKernel.self) }
    public func sqrt() -> Tensor { unary(SqrtKernel.self) }
    public func square() -> Tensor { unary(SquareKernel.self) }
    public func abs() -> Tensor { unary(AbsKernel.self) }
    public func relu() -> Tensor { unary(ReLUKernel.self) }
    public func tanh() -> Tensor { unary(TanhKernel.self) }
    public func sigmoid() -> Tensor { unary(SigmoidKernel.self) }
    /// x · Φ(x), the exact (erf) GELU, as PyTorch's default.
    public func gelu() -> Tensor { unary(GELUKernel.self) }

    /// Elements clamped to [low, high] (the gradient passes where not clamped).
    public func clamped(_ low: Float, _ high: Float) -> Tensor {
        let out = Tensor.empty(shape)
        let px = SharedPointer(storage.pointer), po = SharedPointer(out.storage.pointer)
        parallelFor(count) { r in for i in r { po[i] = min(max(px[i], low), high) } }
        return Tensor.result(out, inputs: [self]) { g in
            let gx = Tensor.empty(self.shape)
            let pg = SharedPointer(g.storage.pointer), pgx = SharedPointer(gx.storage.pointer)
            parallelFor(self.count) { r in for i in r { pgx[i] = px[i] >= low && px[i] <= high ? pg[i] : 0 } }
            self.accumulateGrad(gx)
        }
    }
}

/// y = f(x), with dy/dx given x and y.
protocol UnaryKernel {
    static func f(_ x: Float) -> Float
    static func df(_ x: Float, _ y: Float) -> Float
}
enum ExpKernel: UnaryKernel {
    @inline(__always) static func f(_ x: Float) -> Float { Foundation.exp(x) }
    @inline(__always) static func df(_ x: Float, _ y: Float) -> Float { y }
}
enum LogKernel: UnaryKernel {
    @inline(__always) static func f(_ x: Float) -> Float { Foundation.log(x) }
    @inline(__always) static func df(_ x: Float, _ y: Float) -> Float { 1 / x }
}
enum SqrtKernel: UnaryKernel {
    @inline(__always) static func f(_ x: Float) -> Float { x.squareRoot() }
    @inline(__always) static func df(_ x: Float, _ y: Float) -> Float { 0.5 / y }
}
enum SquareKernel: UnaryKernel {
    @inline(__always) static func f(_ x: Float) -> Float { x * x }
    @inline(__always) static func df(_ x: Float, _ y: Float) -> Float { 2 * x }
}
enum AbsKernel: UnaryKernel {
    @inline(__always) static func f(_ x: Float) -> Float { Swift.abs(x) }
    @inline(__always) static func df(_ x: Float, _ y: Float) -> Float { x > 0 ? 1 : (x < 0 ? -1 : 0) }
}
enum ReLUKernel: UnaryKernel {
    @inline(__always) static func f(_ x: Float) -> Float { max(x, 0) }
    @inline(__always) static func df(_ x: Float, _ y: Float) -> Float { x > 0 ? 1 : 0 }
}
enum TanhKernel: UnaryKernel {
    @inline(__always) static func f(_ x: Float) -> Float { Foundation.tanh(x) }
    @inline(__always) static func df(_ x: Float, _ y: Float) -> Float { 1 - y * y }
}
enum SigmoidKernel: UnaryKernel {
    @inline(__always) static func f(_ x: Float) -> Float { stableSigmoid(x) }
    @inline(__always) static func df(_ x: Float, _ y: Float) -> Float { y * (1 - y) }
}
enum GELUKernel: UnaryKernel {
    @inline(__always) static func f(_ x: Float) -> Float { 0.5 * x * (1 + Foundation.erf(x * 0.70710678)) }
    @inline(__always) static func df(_ x: Float, _ y: Float) -> Float {
        let cdf = 0.5 * (1 + Foundation.erf(x * 0.70710678))
        let pdf = Foundation.exp(-0.5 * x * x) * 0.3989422804
        return cdf + x * pdf
    }
}

@inline(__always) func stableSigmoid(_ x: Float) -> Float {
    if x >= 0 { return 1 / (1 + Foundation.exp(-x)) }
    let e = Foundation.exp(x)
    return e / (1 + e)
}

import Foundation
