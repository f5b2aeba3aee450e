//! Tiny ONNX models built in code, so the model runtime is tested on real ONNX files whose
//! outputs can be computed by hand.

use prost::Message;
use tract_onnx::pb::{
    attribute_proto::AttributeType, tensor_proto::DataType,
    tensor_shape_proto::dimension::Value as Dim, tensor_shape_proto::Dimension, type_proto,
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    TensorShapeProto, TypeProto, ValueInfoProto,
};

/// A dimension: a number, or a symbol for "any" (as exported models declare the batch).
pub enum D {
    N(i64),
    S(&'static str),
}

fn value_info(name: &str, dims: &[D]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| Dimension {
            value: Some(match d {
                D::N(n) => Dim::DimValue(*n),
                D::S(s) => Dim::DimParam(s.to_string()),
            }),
            ..Default::default()
        })
        .collect();
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: DataType::Float as i32,
                shape: Some(TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn node(op: &str, inputs: &[&str], outputs: &[&str], attribute: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        op_type: op.into(),
        name: format!("{op}_{}", outputs[0]),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        attribute,
        ..Default::default()
    }
}

fn int_attr(name: &str, i: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        i,
        r#type: AttributeType::Int as i32,
        ..Default::default()
    }
}

fn weights(name: &str, dims: &[i64], values: &[f32]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: DataType::Float as i32,
        float_data: values.to_vec(),
        ..Default::default()
    }
}

fn model(graph: GraphProto) -> Vec<u8> {
    ModelProto {
        ir_version: 7,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: 13,
        }],
        producer_name: "fieldproof-vision tests".into(),
        graph: Some(graph),
        ..Default::default()
    }
    .encode_to_vec()
}

/// Image model, input `image` `[N, 3, H, W]` (symbolic), outputs:
/// - `embedding` `[N, 3]`: the mean of each normalised channel (GlobalAveragePool, Flatten);
/// - `logits` `[N, 2]`: `embedding x [[1, -1], [0, 0], [-1, 1]]`, i.e. `[r - b, b - r]`.
pub fn channel_means_backbone() -> Vec<u8> {
    model(GraphProto {
        name: "channel_means".into(),
        node: vec![
            node("GlobalAveragePool", &["image"], &["pooled"], vec![]),
            node(
                "Flatten",
                &["pooled"],
                &["embedding"],
                vec![int_attr("axis", 1)],
            ),
            node("MatMul", &["embedding", "w"], &["logits"], vec![]),
        ],
        initializer: vec![weights("w", &[3, 2], &[1.0, -1.0, 0.0, 0.0, -1.0, 1.0])],
        input: vec![value_info(
            "image",
            &[D::S("N"), D::N(3), D::S("H"), D::S("W")],
        )],
        output: vec![
            value_info("logits", &[D::S("N"), D::N(2)]),
            value_info("embedding", &[D::S("N"), D::N(3)]),
        ],
        ..Default::default()
    })
}

/// The same backbone for an NHWC input `[N, H, W, 3]`: a transpose first.
pub fn channel_means_backbone_nhwc() -> Vec<u8> {
    let perm = AttributeProto {
        name: "perm".into(),
        ints: vec![0, 3, 1, 2],
        r#type: AttributeType::Ints as i32,
        ..Default::default()
    };
    model(GraphProto {
        name: "channel_means_nhwc".into(),
        node: vec![
            node("Transpose", &["image"], &["nchw"], vec![perm]),
            node("GlobalAveragePool", &["nchw"], &["pooled"], vec![]),
            node(
                "Flatten",
                &["pooled"],
                &["embedding"],
                vec![int_attr("axis", 1)],
            ),
        ],
        input: vec![value_info(
            "image",
            &[D::S("N"), D::S("H"), D::S("W"), D::N(3)],
        )],
        output: vec![value_info("embedding", &[D::S("N"), D::N(3)])],
        ..Default::default()
    })
}

/// Embedding model, input `features` `[N, 3]`, output `count` `[N, 1]` = `features . [2, 3, 4]`.
pub fn weighted_sum_counter() -> Vec<u8> {
    model(GraphProto {
        name: "weighted_sum".into(),
        node: vec![node("MatMul", &["features", "w"], &["count"], vec![])],
        initializer: vec![weights("w", &[3, 1], &[2.0, 3.0, 4.0])],
        input: vec![value_info("features", &[D::S("N"), D::N(3)])],
        output: vec![value_info("count", &[D::S("N"), D::N(1)])],
        ..Default::default()
    })
}
