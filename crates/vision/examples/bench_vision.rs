//! Prints how long decoding, the conformity checks and the models take on a generated
//! ~1 MB JPEG (p50 and p99 over N runs). Run in release mode:
//!
//! ```sh
//! cargo run --release -p fieldproof-vision --example bench_vision -- [RUNS] [MANIFEST] [PHOTO]
//! ```
//!
//! MANIFEST defaults to `models/manifest.toml`; without it the model figures are skipped.
//! PHOTO is a JPEG or PNG to measure instead of the generated one.
//!
//! The stage lines (working copy, resize, tensor) run each step alone, over and over, on a photo
//! that then stays in the cache. The models resize from the photo's working copy, which the
//! checks have made (`resize from copy`); `resize from photo` is the full photo's resize they
//! used before, for comparison. `models: preprocess` is that resize and the tensor inside a run.
//!
//! Besides wall-clock percentiles it prints the mean CPU time of the benchmark thread per
//! run (from Linux's `/proc/thread-self/schedstat`), which stays meaningful when other
//! processes compete for the cores: everything here runs on one thread.

use std::io::Cursor;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use fieldproof_vision::checks::{judge, measure, ChecksConfig, Grey, WORKING_SIDE};
use fieldproof_vision::manifest::{ImageInput, Layout, Manifest, Resize};
use fieldproof_vision::model::{resize_for_model, to_tensor};
use fieldproof_vision::{decode, DecodedImage, Limits, ModelSet, RgbImage};
use image::codecs::jpeg::JpegEncoder;
use image::{ExtendedColorType, ImageEncoder, Rgb};

fn main() {
    let mut args = std::env::args().skip(1);
    let runs: usize = args
        .next()
        .map(|a| a.parse().expect("RUNS is a number"))
        .unwrap_or(30);
    let manifest = args.next().map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/manifest.toml")
    });

    let bytes = match args.next() {
        Some(path) => std::fs::read(&path).expect("PHOTO can be read"),
        None => one_megabyte_jpeg(),
    };
    let limits = Limits::default();
    let image = decode(&bytes, &limits).expect("the photo decodes");
    println!(
        "photo: {}x{} {}, {} bytes; {runs} runs",
        image.width(),
        image.height(),
        image.format().map_or("image", |f| f.as_str()),
        bytes.len()
    );

    report("decode", runs, || {
        decode(&bytes, &limits).unwrap();
    });
    report("checks: grey working copy", runs, || {
        std::hint::black_box(Grey::working_copy(image.rgb(), WORKING_SIDE));
    });
    let grey = Grey::working_copy(image.rgb(), WORKING_SIDE);
    report("checks: sharpness", runs, || {
        std::hint::black_box(grey.axis_sharpness());
    });
    // The first image model's input as the manifest declares it; MobileNetV2's usual input
    // without a manifest.
    let spec = Manifest::load(&manifest)
        .ok()
        .and_then(|m| m.first_image_input().cloned())
        .unwrap_or(ImageInput {
            width: 224,
            height: 224,
            layout: Layout::Nchw,
            mean: [0.485, 0.456, 0.406],
            std: [0.229, 0.224, 0.225],
            resize: Resize::Stretch,
        });
    println!("models: input {}x{}", spec.width, spec.height);
    report("models: resize from photo", runs, || {
        std::hint::black_box(resize_for_model(image.rgb(), &spec));
    });
    let working = image.working_rgb();
    report("models: resize from copy", runs, || {
        std::hint::black_box(resize_for_model(working, &spec));
    });
    let small = resize_for_model(image.rgb(), &spec);
    report("models: to tensor", runs, || {
        std::hint::black_box(to_tensor(&small, &spec));
    });
    // A photo keeps its working copy once made: each run measures a fresh copy of the photo
    // (copied outside the timing), as each analysis does.
    let config = ChecksConfig::recommended();
    let mut times = Vec::with_capacity(runs);
    let mut cpu = Some(Duration::ZERO);
    for _ in 0..runs {
        let fresh = DecodedImage::from_rgb(image.rgb().clone());
        let (started, cpu_before) = (Instant::now(), thread_cpu());
        let m = measure(&fresh);
        std::hint::black_box(judge(&m, &config, &[m.hash ^ 0xFFFF]));
        times.push(started.elapsed());
        cpu = cpu
            .zip(cpu_per_run(cpu_before, 1))
            .map(|(sum, run)| sum + run);
    }
    print_line(
        "checks (measure + judge)",
        &mut times,
        cpu.map(|c| c / runs as u32),
    );

    if !manifest.is_file() {
        println!("models: {} not found, skipped", manifest.display());
        return;
    }
    let started = Instant::now();
    let set = ModelSet::load(&manifest).expect("the models load");
    println!(
        "models: loaded {:?} in {:.0} ms",
        set.models().iter().map(|m| &m.name).collect::<Vec<_>>(),
        ms(started.elapsed())
    );
    let (mut pre, mut inf, mut total) = (Vec::new(), Vec::new(), Vec::new());
    let cpu_before = thread_cpu();
    for _ in 0..runs {
        let started = Instant::now();
        let out = set.run(&image).unwrap();
        total.push(started.elapsed());
        pre.push(out.preprocess_time());
        inf.push(out.inference_time());
    }
    let cpu = cpu_per_run(cpu_before, runs);
    print_line("models: preprocess", &mut pre, None);
    print_line("models: inference", &mut inf, None);
    print_line("models: run total", &mut total, cpu);
    // The same two stages again, now that the models have run on this thread. Built for plain
    // x86-64 (SSE2), they ran 2.5-4 times slower than before the models on a Zen 5, presumably
    // because tract's AVX-512 kernels leave the vector registers' upper halves in use; built
    // for x86-64-v3 (the default), as fast (docs/PERFORMANCE.md, runs of 2026-11-30 06:34-08:11).
    report("checks: grey working copy, after a model run", runs, || {
        std::hint::black_box(Grey::working_copy(image.rgb(), WORKING_SIDE));
    });
    report("models: resize from copy, after a model run", runs, || {
        std::hint::black_box(resize_for_model(working, &spec));
    });
}

/// A 2400x1800 textured scene at a quality that lands near 1 MB, like a phone photo.
fn one_megabyte_jpeg() -> Vec<u8> {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut noise = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        (state.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 59) as i32 - 16
    };
    let img = RgbImage::from_fn(2400, 1800, |x, y| {
        let wave = ((x as f32 / 37.0).sin() * (y as f32 / 23.0).cos() * 60.0) as i32;
        let block = (((x / 150) + (y / 150)) % 3) as i32 * 40;
        let n = noise();
        Rgb([
            (90 + wave + block + n).clamp(0, 255) as u8,
            (120 - wave / 2 + n).clamp(0, 255) as u8,
            (100 + block / 2 - n).clamp(0, 255) as u8,
        ])
    });
    let mut best = Vec::new();
    for quality in [95u8, 90, 85, 80, 75, 70, 60, 50] {
        let mut out = Cursor::new(Vec::new());
        JpegEncoder::new_with_quality(&mut out, quality)
            .write_image(
                img.as_raw(),
                img.width(),
                img.height(),
                ExtendedColorType::Rgb8,
            )
            .unwrap();
        best = out.into_inner();
        if best.len() <= 1_100_000 {
            break;
        }
    }
    best
}

fn report(what: &str, runs: usize, mut f: impl FnMut()) {
    f(); // warm caches
    let cpu_before = thread_cpu();
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let started = Instant::now();
            f();
            started.elapsed()
        })
        .collect();
    let cpu = cpu_per_run(cpu_before, runs);
    print_line(what, &mut times, cpu);
}

fn print_line(what: &str, times: &mut [Duration], cpu: Option<Duration>) {
    times.sort();
    let pick = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    let cpu = cpu.map_or(String::new(), |c| format!("   cpu {:>8.2} ms", ms(c)));
    println!(
        "{what:<46} p50 {:>8.2} ms   p99 {:>8.2} ms{cpu}",
        ms(pick(0.5)),
        ms(pick(0.99))
    );
}

/// CPU time this thread has run so far, when the kernel tells (Linux).
fn thread_cpu() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(nanos))
}

fn cpu_per_run(before: Option<Duration>, runs: usize) -> Option<Duration> {
    Some((thread_cpu()? - before?) / runs as u32)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
