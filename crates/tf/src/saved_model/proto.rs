//! SavedModel messages decoded with tract's types except where tract's set lacks a field:
//! its `GraphDef` has no `library` (field 2), which holds every function of a TF2 SavedModel.
//! Fields not listed here (saver, collections, assets) are skipped by the decoder.

use std::collections::HashMap;

use crate::pb;

#[derive(Clone, PartialEq, prost::Message)]
pub struct SavedModel {
    #[prost(message, repeated, tag = "2")]
    pub meta_graphs: Vec<MetaGraphDef>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct MetaGraphDef {
    #[prost(message, optional, tag = "1")]
    pub meta_info_def: Option<pb::meta_graph_def::MetaInfoDef>,
    #[prost(message, optional, tag = "2")]
    pub graph_def: Option<GraphDef>,
    #[prost(map = "string, message", tag = "5")]
    pub signature_def: HashMap<String, pb::SignatureDef>,
    #[prost(message, optional, tag = "7")]
    pub object_graph_def: Option<pb::SavedObjectGraph>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GraphDef {
    #[prost(message, repeated, tag = "1")]
    pub node: Vec<pb::NodeDef>,
    #[prost(message, optional, tag = "2")]
    pub library: Option<pb::FunctionDefLibrary>,
    #[prost(message, optional, tag = "4")]
    pub versions: Option<pb::VersionDef>,
}
