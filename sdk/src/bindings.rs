//! The generated component bindings, hidden from plugin authors.
//!
//! One `generate!` per provider interface, all sharing the types of the first, so that a plugin
//! exports exactly the interfaces it implements: the host reads a plugin's provider kinds from
//! its exports, and wit-component merges the per-interface worlds into one component.

#![allow(missing_docs, clippy::all, unsafe_code)]

pub mod base {
    wit_bindgen::generate!({
        inline: "
            package carbonaut:sdk;
            world metadata-exports {
                import carbonaut:provider/log@0.3.0;
                import carbonaut:provider/types@0.3.0;
                import carbonaut:provider/key-value@0.3.0;
                export carbonaut:provider/metadata@0.3.0;
            }
        ",
        path: "wit",
        world: "metadata-exports",
        generate_all,
        pub_export_macro: true,
        export_macro_name: "export_metadata",
        default_bindings_module: "carbonaut_sdk::bindings::base",
        additional_derives: [PartialEq],
    });
}

pub mod discovery {
    wit_bindgen::generate!({
        inline: "
            package carbonaut:sdk;
            world discovery-exports {
                export carbonaut:provider/discovery@0.3.0;
            }
        ",
        path: "wit",
        world: "discovery-exports",
        with: { "carbonaut:provider/types@0.3.0": crate::bindings::base::carbonaut::provider::types },
        pub_export_macro: true,
        export_macro_name: "export_discovery",
        default_bindings_module: "carbonaut_sdk::bindings::discovery",
    });
}

pub mod resource_metrics {
    wit_bindgen::generate!({
        inline: "
            package carbonaut:sdk;
            world resource-metrics-exports {
                export carbonaut:provider/resource-metrics@0.3.0;
            }
        ",
        path: "wit",
        world: "resource-metrics-exports",
        with: { "carbonaut:provider/types@0.3.0": crate::bindings::base::carbonaut::provider::types },
        pub_export_macro: true,
        export_macro_name: "export_resource_metrics",
        default_bindings_module: "carbonaut_sdk::bindings::resource_metrics",
    });
}

pub mod environment {
    wit_bindgen::generate!({
        inline: "
            package carbonaut:sdk;
            world environment-exports {
                export carbonaut:provider/environment@0.3.0;
            }
        ",
        path: "wit",
        world: "environment-exports",
        with: { "carbonaut:provider/types@0.3.0": crate::bindings::base::carbonaut::provider::types },
        pub_export_macro: true,
        export_macro_name: "export_environment",
        default_bindings_module: "carbonaut_sdk::bindings::environment",
    });
}

pub mod estimation {
    wit_bindgen::generate!({
        inline: "
            package carbonaut:sdk;
            world estimation-exports {
                export carbonaut:provider/estimation@0.3.0;
            }
        ",
        path: "wit",
        world: "estimation-exports",
        with: { "carbonaut:provider/types@0.3.0": crate::bindings::base::carbonaut::provider::types },
        pub_export_macro: true,
        export_macro_name: "export_estimation",
        default_bindings_module: "carbonaut_sdk::bindings::estimation",
    });
}

/// `wasi:http` for the [`crate::http`] client, apart from the provider types (which derive
/// `PartialEq`, which the WASI resources cannot).
pub mod wasi_http {
    wit_bindgen::generate!({
        inline: "
            package carbonaut:sdk;
            world http-imports {
                import wasi:http/outgoing-handler@0.2.12;
            }
        ",
        path: "wit",
        world: "http-imports",
        generate_all,
    });
}
