use super::*;

const EXAMPLE: &str = r#"
[[models]]
name = "mobilenet_v2"
file = "mobilenet_v2.onnx"          # relative to the manifest
sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
[models.input]
kind = "image"
width = 224
height = 224
layout = "nchw"                     # or "nhwc"
mean = [0.485, 0.456, 0.406]        # applied after scaling pixels to 0..1
std = [0.229, 0.224, 0.225]
resize = "stretch"
[[models.outputs]]
name = "logits"
kind = "classification"
labels = "imagenet-labels.txt"      # optional, one label per line
[[models.outputs]]
name = "embedding"
kind = "embedding"

[[models]]
name = "degradation_counter"
file = "degradation_counter.onnx"
sha256 = "1111111111111111111111111111111111111111111111111111111111111111"
[models.input]
kind = "embedding"
of = "mobilenet_v2"
output = "embedding"
[[models.outputs]]
name = "count"
kind = "count"
"#;

fn parse(text: &str) -> Result<Manifest, String> {
    Manifest::parse(text, Path::new("models/manifest.toml")).map_err(|e| e.to_string())
}

#[test]
fn parses_the_documented_example() {
    let m = parse(EXAMPLE).unwrap();
    assert_eq!(m.models.len(), 2);
    let backbone = &m.models[0];
    assert_eq!(backbone.file, Path::new("mobilenet_v2.onnx"));
    let InputSpec::Image(img) = &backbone.input else {
        panic!("image input expected")
    };
    assert_eq!(
        (img.width, img.height, img.layout, img.resize),
        (224, 224, Layout::Nchw, Resize::Stretch)
    );
    assert_eq!(img.std, [0.229, 0.224, 0.225]);
    assert_eq!(m.first_image_input(), Some(img));
    assert_eq!(
        backbone.outputs[0].labels.as_deref(),
        Some(Path::new("imagenet-labels.txt"))
    );
    assert_eq!(backbone.outputs[1].kind, OutputKind::Embedding);
    assert_eq!(
        m.models[1].input,
        InputSpec::Embedding {
            of: "mobilenet_v2".into(),
            output: "embedding".into()
        }
    );
    assert_eq!(m.models[1].outputs[0].kind, OutputKind::Count);
}

#[test]
fn an_input_spec_is_recorded_in_the_manifest_s_own_words() {
    let m = parse(EXAMPLE).unwrap();
    let image = serde_json::to_value(&m.models[0].input).unwrap();
    assert_eq!(image["kind"], "image");
    assert_eq!(
        (&image["width"], &image["height"]),
        (&224.into(), &224.into())
    );
    assert_eq!(
        (&image["layout"], &image["resize"]),
        (&"nchw".into(), &"stretch".into())
    );
    assert_eq!(image["mean"], serde_json::json!([0.485, 0.456, 0.406]));
    assert_eq!(image["std"], serde_json::json!([0.229, 0.224, 0.225]));
    let embedding = serde_json::to_value(&m.models[1].input).unwrap();
    assert_eq!(
        embedding,
        serde_json::json!({"kind": "embedding", "of": "mobilenet_v2", "output": "embedding"})
    );
    // And it reads back as the same spec, so a record can be compared with a manifest.
    for (entry, json) in m.models.iter().zip([image, embedding]) {
        assert_eq!(
            serde_json::from_value::<InputSpec>(json).unwrap(),
            entry.input
        );
    }
}

#[test]
fn mean_and_std_default_to_identity() {
    let text = EXAMPLE
        .replace("mean = [0.485, 0.456, 0.406]", "")
        .replace("std = [0.229, 0.224, 0.225]", "");
    let InputSpec::Image(img) = &parse(&text).unwrap().models[0].input else {
        panic!()
    };
    assert_eq!((img.mean, img.std), ([0.0; 3], [1.0; 3]));
}

#[test]
fn refusals_name_the_problem() {
    let cases = [
        (
            EXAMPLE.replace("labels =", "lables ="),
            "unknown field `lables`",
        ),
        (
            EXAMPLE.replace("layout = \"nchw\"", "layout = \"chw\""),
            "unknown variant `chw`",
        ),
        (
            EXAMPLE.replace("kind = \"count\"", "kind = \"histogram\""),
            "unknown variant `histogram`",
        ),
        (
            EXAMPLE.replace("of = \"mobilenet_v2\"", "of = \"resnet\""),
            "model \"resnet\", which must be declared before it",
        ),
        (
            EXAMPLE.replace("output = \"embedding\"", "output = \"logits\""),
            "is not of kind \"embedding\"",
        ),
        (
            EXAMPLE.replace("degradation_counter\"", "mobilenet_v2\""),
            "the name is used twice",
        ),
        (
            EXAMPLE.replacen("0000000000", "zz", 1),
            "sha256 must be 64 hex digits",
        ),
        (
            EXAMPLE.replace("std = [0.229, 0.224, 0.225]", "std = [0.229, 0.0, 0.225]"),
            "std must be positive",
        ),
        ("models = []".to_string(), "declares no model"),
    ];
    for (text, expected) in cases {
        let err = parse(&text).unwrap_err();
        assert!(
            err.contains(expected),
            "{err:?} should contain {expected:?}"
        );
        assert!(
            err.starts_with("the model manifest models/manifest.toml is invalid"),
            "{err}"
        );
    }
}

#[test]
fn a_missing_manifest_says_so() {
    let err = Manifest::load(Path::new("/nonexistent/manifest.toml"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("cannot read it"), "{err}");
}
