//! LOLWUT [VERSION version] [version-specific arguments]
//!
//! As Redis 7: version 5 draws Georg Nees's *Schotter* (squares that rotate and drift more
//! the lower they are) in Braille characters, version 6 an 8-bit city skyline in terminal
//! colours, and any other version (the default is the node's own) answers the version line.
//! Both drawings are random, as on Redis; the reply is a verbatim text.
use std::f64::consts::{FRAC_PI_2, FRAC_PI_4};

use rand::Rng;
use resp::Args;

use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

/// A grid of pixels, 0 = off; drawing outside it is ignored.
struct Canvas {
    width: i64,
    height: i64,
    pixels: Vec<u8>,
}

impl Canvas {
    fn new(width: i64, height: i64, color: u8) -> Canvas {
        Canvas {
            width,
            height,
            pixels: vec![color; (width * height).max(0) as usize],
        }
    }

    fn set(&mut self, x: i64, y: i64, color: u8) {
        if (0..self.width).contains(&x) && (0..self.height).contains(&y) {
            self.pixels[(x + y * self.width) as usize] = color;
        }
    }

    fn get(&self, x: i64, y: i64) -> u8 {
        if (0..self.width).contains(&x) && (0..self.height).contains(&y) {
            self.pixels[(x + y * self.width) as usize]
        } else {
            0
        }
    }

    /// Bresenham's line.
    fn line(&mut self, (mut x1, mut y1): (i64, i64), (x2, y2): (i64, i64)) {
        let (dx, dy) = ((x2 - x1).abs(), (y2 - y1).abs());
        let (sx, sy) = (if x1 < x2 { 1 } else { -1 }, if y1 < y2 { 1 } else { -1 });
        let mut err = dx - dy;
        loop {
            self.set(x1, y1, 1);
            if x1 == x2 && y1 == y2 {
                break;
            }
            let e2 = err * 2;
            if e2 > -dy {
                err -= dy;
                x1 += sx;
            }
            if e2 < dx {
                err += dx;
                y1 += sy;
            }
        }
    }

    /// A square of side `size` centred on (x, y), turned by `angle`: its corners are points
    /// of the circumscribed circle, a quarter turn apart.
    fn square(&mut self, x: i64, y: i64, size: f64, angle: f64) {
        let r = (size / std::f64::consts::SQRT_2).round();
        let corners: Vec<(i64, i64)> = (0..4)
            .map(|j| {
                let k = FRAC_PI_4 + angle + j as f64 * FRAC_PI_2;
                (
                    (k.sin() * r + x as f64).round() as i64,
                    (k.cos() * r + y as f64).round() as i64,
                )
            })
            .collect();
        for j in 0..4 {
            self.line(corners[j], corners[(j + 1) % 4]);
        }
    }

    /// Braille characters, each a 2x4 block of pixels.
    fn braille(&self) -> String {
        let mut text = String::new();
        let mut y = 0;
        while y < self.height {
            let mut x = 0;
            while x < self.width {
                let bits = [
                    (0, 0),
                    (0, 1),
                    (0, 2),
                    (1, 0),
                    (1, 1),
                    (1, 2),
                    (0, 3),
                    (1, 3),
                ];
                let byte = bits
                    .iter()
                    .enumerate()
                    .filter(|(_, (dx, dy))| self.get(x + dx, y + dy) != 0)
                    .fold(0u32, |b, (i, _)| b | 1 << i);
                text.push(char::from_u32(0x2800 + byte).expect("braille block"));
                x += 2;
            }
            if y != self.height - 1 {
                text.push('\n');
            }
            y += 4;
        }
        text
    }
}

fn int_arg(args: Args<'_>, i: usize, default: i64) -> Result<i64, CmdError> {
    if i < args.len() {
        resp::number::parse_i64(args.get(i)).ok_or(CmdError::NotInteger)
    } else {
        Ok(default)
    }
}

/// Version 5: *Schotter* — `[columns] [squares per row] [squares per column]`.
fn schotter(args: Args<'_>, version: &str) -> Result<String, CmdError> {
    let cols = int_arg(args, 1, 66)?.clamp(1, 1000);
    let per_row = int_arg(args, 2, 8)?.clamp(1, 200);
    let per_col = int_arg(args, 3, 12)?.clamp(1, 200);
    let width = cols * 2;
    let padding = if width > 4 { 2 } else { 0 };
    let side = (width - padding * 2) as f64 / per_row as f64;
    let height = (side * per_col as f64) as i64 + padding * 2;
    let mut canvas = Canvas::new(width, height, 0);
    let mut rng = rand::thread_rng();
    for y in 0..per_col {
        for x in 0..per_row {
            let mut sx = (x as f64 * side + side / 2.0 + padding as f64) as i64;
            let mut sy = (y as f64 * side + side / 2.0 + padding as f64) as i64;
            let mut angle = 0.0;
            if y > 1 {
                // Disorder grows with the row: a random turn and shift, each either way.
                let mut r = || rng.gen::<f64>() / per_col as f64 * y as f64;
                let (mut r1, mut r2, mut r3) = (r(), r(), r());
                for v in [&mut r1, &mut r2, &mut r3] {
                    if rng.gen::<bool>() {
                        *v = -*v;
                    }
                }
                angle = r1;
                sx = (sx as f64 + r2 * side / 3.0) as i64;
                sy = (sy as f64 + r3 * side / 3.0) as i64;
            }
            canvas.square(sx, sy, side, angle);
        }
    }
    let mut text = canvas.braille();
    text.push_str("\nGeorg Nees - schotter, plotter on paper, 1968. Redis ver. ");
    text.push_str(version);
    text.push('\n');
    Ok(text)
}

/// Version 6: a skyline — `[columns] [rows]`: two rows of window-less buildings in the
/// greys behind one of black buildings with lit windows.
fn skyline(args: Args<'_>, version: &str) -> Result<String, CmdError> {
    let cols = int_arg(args, 1, 80)?.clamp(1, 1000);
    let rows = int_arg(args, 2, 20)?.clamp(1, 1000);
    let mut canvas = Canvas::new(cols, rows, 3);
    let mut rng = rand::thread_rng();
    let h = canvas.height;
    for color in [2u8, 1] {
        let mut offset = -10;
        while offset < canvas.width {
            offset += rng.gen_range(0..8);
            let width = 10 + rng.gen_range(0..9);
            let height = if color == 2 {
                h / 2 + rng.gen_range(0..h) / 2
            } else {
                h / 2 + rng.gen_range(0..h) / 3
            };
            building(&mut canvas, &mut rng, offset, width, height, false, color);
            offset += if color == 2 { width / 2 } else { width + 1 };
        }
    }
    let mut offset = -10;
    while offset < canvas.width {
        offset += rng.gen_range(0..8);
        let mut width = 5 + rng.gen_range(0..14);
        if width % 4 != 0 {
            width += width % 3;
        }
        let height = h / 3 + rng.gen_range(0..h) / 2;
        building(&mut canvas, &mut rng, offset, width, height, true, 0);
        offset += width + 5;
    }
    let mut text = String::new();
    for y in 0..canvas.height {
        for x in 0..canvas.width {
            let escape = match canvas.get(x, y) {
                1 => "0;90;100m",
                2 => "0;37;47m",
                3 => "0;97;107m",
                _ => "0;30;40m",
            };
            text.push_str(&format!("\x1b[{escape} \x1b[0m"));
        }
        if y != canvas.height - 1 {
            text.push('\n');
        }
    }
    text.push_str(
        "\nDedicated to the 8 bit game developers of past and present.\n\
         Original 8 bit image from Plaguemon by hikikomori. Redis ver. ",
    );
    text.push_str(version);
    text.push('\n');
    Ok(text)
}

/// One building standing on the bottom row; the roof is two pixels narrower each side;
/// windows (two pixels wide, one tall) are lit in a grey other than the wall's.
fn building(
    canvas: &mut Canvas,
    rng: &mut impl Rng,
    xoff: i64,
    width: i64,
    height: i64,
    windows: bool,
    color: u8,
) {
    let start = canvas.height - 1;
    let end = start - height + 1;
    for y in (end..=start).rev() {
        for x in xoff..xoff + width {
            if y == end && (x <= xoff + 1 || x >= xoff + width - 2) {
                continue;
            }
            let mut c = color;
            if windows && x > xoff + 1 && x < xoff + width - 2 && y > end + 1 && y < start - 1 {
                let (relx, rely) = (x - (xoff + 1), y - (end + 1));
                if (relx / 2) % 2 != 0 && rely % 2 != 0 {
                    c = loop {
                        let lit = 1 + rng.gen_range(0..2u8);
                        if lit != color {
                            break lit;
                        }
                    };
                    if relx % 2 != 0 {
                        c = canvas.get(x - 1, y);
                    }
                }
            }
            canvas.set(x, y, c);
        }
    }
}

pub fn lolwut(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let own = ctx.shared.live.compat_version.clone();
    let (version, rest) = if args.len() >= 3 && args.get(1).eq_ignore_ascii_case(b"version") {
        let v = resp::number::parse_i64(args.get(2)).ok_or(CmdError::NotInteger)?;
        (format!("{}.0.0", v as u32), args.tail(2))
    } else {
        (own.clone(), args)
    };
    let v = version.as_bytes();
    let text = if (v.starts_with(b"5.") && v.get(2) != Some(&b'9')) || v.starts_with(b"4.9") {
        schotter(rest, &own)?
    } else if (v.starts_with(b"6.") && v.get(2) != Some(&b'9')) || v.starts_with(b"5.9") {
        skyline(rest, &own)?
    } else {
        format!("Redis ver. {own}\n")
    };
    ctx.out.verbatim("txt", text.as_bytes());
    Ok(())
}
