/// A grid of frame strips: one row per sequence (an episode, a plan), frames left to right, with
/// an optional caption drawn above each row in a small bitmap font.
public enum ContactSheet {
    public static func make(rows: [(caption: String, frames: [RGBImage])], cell: Int = 64, maxFrames: Int = 12,
                            gap: Int = 2) -> RGBImage {
        let columns = min(maxFrames, rows.map(\.frames.count).max() ?? 1)
        let captionHeight = rows.contains { !$0.caption.isEmpty } ? BitmapFont.height + 4 : 0
        let rowHeight = captionHeight + cell + gap
        var sheet = RGBImage(width: gap + columns * (cell + gap), height: gap + rows.count * rowHeight,
                             color: (24, 24, 28))
        for (r, row) in rows.enumerated() {
            let top = gap + r * rowHeight
            if !row.caption.isEmpty {
                BitmapFont.draw(row.caption, into: &sheet, x: gap + 1, y: top + 2, color: (230, 230, 230))
            }
            // Evenly spaced frames when the sequence is longer than the row.
            let picks = row.frames.count <= columns ? Array(row.frames.indices)
                : (0..<columns).map { $0 * (row.frames.count - 1) / max(1, columns - 1) }
            for (c, index) in picks.enumerated() {
                let frame = row.frames[index].resized(width: cell, height: cell)
                sheet.paste(frame, x: gap + c * (cell + gap), y: top + captionHeight)
            }
        }
        return sheet
    }
}

/// A 5×7 pixel font for captions (digits, letters, a little punctuation; lower case is drawn as
/// upper case).
public enum BitmapFont {
    public static let height = 7

    public static func draw(_ text: String, into image: inout RGBImage, x: Int, y: Int, color: (UInt8, UInt8, UInt8)) {
        var cursor = x
        for character in text.uppercased() {
            if let rows = glyphs[character] {
                for (dy, bits) in rows.enumerated() {
                    for dx in 0..<5 where bits & (0b10000 >> dx) != 0 {
                        let (px, py) = (cursor + dx, y + dy)
                        if px >= 0 && px < image.width && py >= 0 && py < image.height { image[px, py] = color }
                    }
                }
            }
            cursor += 6
            if cursor >= image.width { break }
        }
    }

    private static let glyphs: [Character: [UInt8]] = [
        "A": [14, 17, 17, 31, 17, 17, 17], "B": [30, 17, 17, 30, 17, 17, 30], "C": [14, 17, 16, 16, 16, 17, 14],
        "D": [30, 17, 17, 17, 17, 17, 30], "E": [31, 16, 16, 30, 16, 16, 31], "F": [31, 16, 16, 30, 16, 16, 16],
        "G": [14, 17, 16, 23, 17, 17, 15], "H": [17, 17, 17, 31, 17, 17, 17], "I": [14, 4, 4, 4, 4, 4, 14],
        "J": [7, 2, 2, 2, 2, 18, 12], "K": [17, 18, 20, 24, 20, 18, 17], "L": [16, 16, 16, 16, 16, 16, 31],
        "M": [17, 27, 21, 21, 17, 17, 17], "N": [17, 17, 25, 21, 19, 17, 17], "O": [14, 17, 17, 17, 17, 17, 14],
        "P": [30, 17, 17, 30, 16, 16, 16], "Q": [14, 17, 17, 17, 21, 18, 13], "R": [30, 17, 17, 30, 20, 18, 17],
        "S": [15, 16, 16, 14, 1, 1, 30], "T": [31, 4, 4, 4, 4, 4, 4], "U": [17, 17, 17, 17, 17, 17, 14],
        "V": [17, 17, 17, 17, 17, 10, 4], "W": [17, 17, 17, 21, 21, 21, 10], "X": [17, 17, 10, 4, 10, 17, 17],
        "Y": [17, 17, 10, 4, 4, 4, 4], "Z": [31, 1, 2, 4, 8, 16, 31],
        "0": [14, 17, 19, 21, 25, 17, 14], "1": [4, 12, 4, 4, 4, 4, 14], "2": [14, 17, 1, 2, 4, 8, 31],
        "3": [31, 2, 4, 2, 1, 17, 14], "4": [2, 6, 10, 18, 31, 2, 2], "5": [31, 16, 30, 1, 1, 17, 14],
        "6": [6, 8, 16, 30, 17, 17, 14], "7": [31, 1, 2, 4, 8, 8, 8], "8": [14, 17, 17, 14, 17, 17, 14],
        "9": [14, 17, 17, 15, 1, 2, 12],
        "-": [0, 0, 0, 31, 0, 0, 0], ".": [0, 0, 0, 0, 0, 12, 12], ":": [0, 12, 12, 0, 12, 12, 0],
        "/": [1, 1, 2, 4, 8, 16, 16], "=": [0, 0, 31, 0, 31, 0, 0], "%": [24, 25, 2, 4, 8, 19, 3],
        "(": [2, 4, 8, 8, 8, 4, 2], ")": [8, 4, 2, 2, 2, 4, 8], "_": [0, 0, 0, 0, 0, 0, 31], "+": [0, 4, 4, 31, 4, 4, 0],
        ",": [0, 0, 0, 0, 12, 4, 8], "#": [10, 10, 31, 10, 31, 10, 10], "✓": [0, 1, 2, 20, 8, 0, 0],
    ]
}
