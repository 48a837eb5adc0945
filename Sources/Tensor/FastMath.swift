// A branch-free exp the compiler vectorises, and the activations built on it. Accurate to a few
// ulp over the float range; the library expf is a call per element and took a tenth of a UNet
// training step.

/// e^x as 2^n · p(r), x = n·ln2 + r, |r| ≤ ln2/2, p a degree-6 polynomial.
@inline(__always)
func fastExp(_ x: Float) -> Float {
    let clamped = Swift.min(Swift.max(x, -87.3), 88.7)
    // Adding 1.5·2²³ rounds to an integer and leaves it in the low mantissa bits.
    let shifted = clamped * 1.442695041 + 12_582_912
    let n = shifted - 12_582_912
    // Cody–Waite: ln2 split into a part exact in float and a remainder.
    var r = clamped - n * 0.693359375
    r = r + n * 2.12194440e-4
    var p: Float = 1.3981999507e-3
    p = p * r + 8.3334519073e-3
    p = p * r + 4.1665795894e-2
    p = p * r + 1.6666665459e-1
    p = p * r + 5.0000001201e-1
    p = p * r * r + r + 1
    let exponent = ((shifted.bitPattern &- 0x4B40_0000) &+ 127) &<< 23
    return p * Float(bitPattern: exponent)
}

/// Σ p[0..<count] in eight-lane partial sums. A plain `s += p[i]` loop is one dependent add after
/// another (the compiler may not reorder float sums): four cycles per element, which made bias
/// and broadcast gradients a visible part of a training step.
@inline(__always)
func sumOf(_ p: UnsafePointer<Float>, count: Int) -> Float {
    var lanes = SIMD8<Float>()
    var i = 0
    while i + 8 <= count {
        lanes += UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<Float>.self)
        i += 8
    }
    var total = lanes.sum()
    while i < count { total += p[i]; i += 1 }
    return total
}

extension Tensor {
    /// x · sigmoid(x) (the SiLU or swish activation).
    public func silu() -> Tensor {
        let out = Tensor.empty(shape)
        let (sx, so) = (SharedPointer(storage.pointer), SharedPointer(out.storage.pointer))
        parallelFor(count, minimumPerWorker: 16_384) { range in
            let (x, y) = (sx.base, so.base)
            for i in range { y[i] = x[i] / (1 + fastExp(-x[i])) }
        }
        return Tensor.result(out, inputs: [self]) { g in
            let gx = Tensor.empty(self.shape)
            let (sg, sgx) = (SharedPointer(g.storage.pointer), SharedPointer(gx.storage.pointer))
            parallelFor(self.count, minimumPerWorker: 16_384) { range in
                let (x, dy, dx) = (sx.base, sg.base, sgx.base)
                for i in range {
                    let s = 1 / (1 + fastExp(-x[i]))
                    dx[i] = dy[i] * s * (1 + x[i] * (1 - s))
                }
            }
            self.accumulateGrad(gx)
        }
    }
}
