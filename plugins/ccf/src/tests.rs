//! The model against figures worked out by hand from the CSV rows (quoted in each test), to
//! 1e-9 relative.

use carbonaut_sdk::{Hardware, Location, ResourceInfo, ResourceKind, ResourceSample};

use super::*;
use crate::model::{embodied_grams_per_hour, interpolate};

fn close(got: f64, want: f64) {
    assert!(
        (got - want).abs() <= 1e-9 * want.abs(),
        "got {got}, want {want}"
    );
}

fn input(
    cloud: Option<&str>,
    instance_type: Option<&str>,
    vcpus: Option<u32>,
    utilization: Option<f64>,
) -> EstimationInput {
    EstimationInput {
        info: ResourceInfo {
            id: "vm-1".into(),
            name: "vm-1".into(),
            kind: ResourceKind::Vm,
            location: Location {
                cloud: cloud.map(Into::into),
                grid_zone: None,
                ..Default::default()
            },
            hardware: Hardware {
                instance_type: instance_type.map(Into::into),
                vcpus,
                ..Default::default()
            },
            labels: vec![],
        },
        sample: utilization.map(|u| ResourceSample {
            resource_id: "vm-1".into(),
            energy_joules: None,
            power_watts: None,
            cpu_frequency_hertz: None,
            cpu_utilization_ratio: Some(u),
            read_at: 0,
            estimated: false,
            components: vec![],
        }),
    }
}

fn estimate(input: &EstimationInput) -> Option<ResourceEstimate> {
    let tables = tables::tables().expect("the embedded tables parse");
    estimate_one(tables, input, DEFAULT_UTILIZATION)
}

fn watts(estimate: &ResourceEstimate, component: Component) -> Option<f64> {
    estimate
        .power
        .iter()
        .find(|p| p.component == component)
        .map(|p| p.watts)
}

#[test]
fn every_row_of_every_table_parses_into_a_valid_share() {
    let tables = tables::parse_all().expect("tables");
    assert_eq!(tables.aws.teads.len(), 621);
    assert_eq!(tables.aws.embodied_kg.len(), 621);
    assert_eq!(tables.gcp.types.len(), 126);
    assert_eq!(tables.gcp.embodied_kg.len(), 126);
    assert_eq!(tables.azure.types.len(), 393);
    assert_eq!(tables.azure.embodied_kg.len(), 393);
    assert_eq!(tables.aws.coefficients.len(), 20);
    assert_eq!(tables.gcp.coefficients.len(), 9);
    assert_eq!(tables.azure.coefficients.len(), 8);
    for (name, t) in &tables.aws.teads {
        assert!(
            model::vcpu_share(f64::from(t.vcpus), f64::from(t.platform_vcpus)).is_some(),
            "{name}"
        );
        assert!(tables.aws.embodied_kg.contains_key(name), "{name}");
    }
    // Three Azure rows have more instance than platform vCPUs: they get no embodied share.
    let mut no_share = Vec::new();
    for cloud in [&tables.gcp, &tables.azure] {
        for (name, t) in &cloud.types {
            if model::vcpu_share(t.vcpus, t.platform_vcpus).is_none() {
                no_share.push(name.as_str());
            }
            assert!(cloud.embodied_kg.contains_key(name), "{name}");
        }
    }
    no_share.sort_unstable();
    assert_eq!(no_share, ["m416ms v2", "m416s v2", "nc64as t4 v3"]);
    let e = estimate(&input(
        Some("azure"),
        Some("Standard_NC64as_T4_v3"),
        None,
        None,
    ))
    .expect("known type");
    assert!(e.embodied.is_none());
    assert!(
        e.basis
            .ends_with("; no embodied figure (the table's 64 of 24 vCPUs)"),
        "{}",
        e.basis
    );
}

/// (a) The worked example of data/README: an m5.xlarge (4 of 96 vCPUs) whose type had a total
/// of 1 234.5 kg gives 1 234.5 × 1/35 040 × 4/96 kg = 1.468 g an hour. The real row of
/// coefficients-aws-embodied.csv is `m5.xlarge,1610.79` (1000 base + 510.79 memory + 100
/// CPUs): 1 610 790 g × 4/96 / 35 040 h = 1.915418... g an hour.
#[test]
fn m5_xlarge_embodied_share_is_four_of_ninety_six_vcpus() {
    close(
        embodied_grams_per_hour(1_234_500.0, 4.0 / 96.0, 35_040.0),
        1_234_500.0 / 24.0 / 35_040.0,
    );
    close(
        embodied_grams_per_hour(1_234_500.0, 4.0 / 96.0, 35_040.0),
        1.467_965_182_648_402,
    );

    let e = estimate(&input(Some("aws"), Some("m5.xlarge"), Some(4), Some(0.3))).expect("known");
    let embodied = e.embodied.expect("m5.xlarge is in the embodied table");
    close(embodied.machine_grams, 1_610_790.0);
    close(embodied.share, 4.0 / 96.0);
    assert_eq!(embodied.lifetime_hours, None, "the host's 35 040 h");
    close(
        embodied_grams_per_hour(embodied.machine_grams, embodied.share, 35_040.0),
        1.915_418_093_607_306,
    );
}

/// (b) aws-instances.csv, m5.xlarge: PkgWatt 2,41 / 6,11 / 14,32 / 19,92 and RAMWatt 2,41 /
/// 3,85 / 9,92 / 15,99 at idle / 10 / 50 / 100 %, Delta Full Machine 4,0. 30 % lies halfway
/// between the 10 % and 50 % points: CPU 6.11 + (0.3 − 0.1)/(0.5 − 0.1) × (14.32 − 6.11) =
/// 6.11 + 0.5 × 8.21 = 10.215 W; memory 3.85 + 0.5 × (9.92 − 3.85) = 6.885 W; other 4.0 W.
#[test]
fn m5_xlarge_at_thirty_percent_interpolates_between_ten_and_fifty() {
    let e = estimate(&input(Some("aws"), Some("m5.xlarge"), None, Some(0.3))).expect("known");
    close(watts(&e, Component::Cpu).expect("cpu"), 10.215);
    close(watts(&e, Component::Dram).expect("dram"), 6.885);
    close(watts(&e, Component::Other).expect("other"), 4.0);
    assert_eq!(watts(&e, Component::Gpu), None, "no GPU");
    assert_eq!(e.resource_id, "vm-1");
    assert_eq!(
        e.basis,
        "aws m5.xlarge, Teads, 30 % CPU; embodied CCF, 4/96 vCPUs"
    );

    // The load points themselves, and the ends.
    let curve = [2.41, 6.11, 14.32, 19.92];
    close(interpolate(&curve, 0.0), 2.41);
    close(interpolate(&curve, 0.1), 6.11);
    close(interpolate(&curve, 0.5), 14.32);
    close(interpolate(&curve, 1.0), 19.92);
    close(interpolate(&curve, 0.75), 14.32 + 0.5 * (19.92 - 14.32));
    close(interpolate(&curve, 1.7), 19.92);
}

/// Teads' whole-instance column is the sum of the parts, so `other` = Delta Full Machine makes
/// the estimate add up to it: m5.xlarge `Instance @ 100%` is 39,9 = 19.92 + 15.99 + 4.0 (39.91).
#[test]
fn teads_parts_add_up_to_the_instance_column() {
    let e = estimate(&input(Some("aws"), Some("m5.xlarge"), None, Some(1.0))).expect("known");
    let total: f64 = e.power.iter().map(|p| p.watts).sum();
    close(total, 19.92 + 15.99 + 4.0);
    assert!((total - 39.9).abs() < 0.05);
}

/// (c) gcp-instances.csv: n2-standard-4 is Cascade Lake only, 4 vCPUs and 16 GB of a 128-vCPU,
/// 512 GB platform. coefficients-gcp-use.csv, Cascade Lake: min 0.6902978319127387, max
/// 3.754854273784877, 105.972049689441 GB per chip. At the assumed 50 %: CPU 4 × (0.69029783 +
/// 0.5 × (3.75485427 − 0.69029783)) = 8.890304211 W. Memory: ceil(128 / 96) = 2 chips, 512 / 2
/// − 105.97205 = 150.02795 GB beyond the servers measured, × 16/512 × 0.392 W = 1.837842391 W.
/// Embodied: coefficients-gcp-embodied-mean.csv `n2-standard-4,1888.46`, 4/128.
#[test]
fn gcp_type_uses_its_microarchitecture_coefficients() {
    let e = estimate(&input(Some("gcp"), Some("n2-standard-4"), None, None)).expect("known");
    let (min, max) = (0.690_297_831_912_738_7, 3.754_854_273_784_877);
    close(
        watts(&e, Component::Cpu).expect("cpu"),
        4.0 * (min + 0.5 * (max - min)),
    );
    close(
        watts(&e, Component::Cpu).expect("cpu"),
        8.890_304_211_395_23,
    );
    close(
        watts(&e, Component::Dram).expect("dram"),
        (512.0 / 2.0 - 105.972_049_689_441) * 16.0 / 512.0 * 0.392,
    );
    let embodied = e.embodied.expect("embodied");
    close(embodied.machine_grams, 1_888_460.0);
    close(embodied.share, 4.0 / 128.0);
    assert_eq!(
        e.basis,
        "gcp n2-standard-4, CCF coefficients (Cascade Lake), 50 % CPU assumed; embodied CCF, \
         4/128 vCPUs"
    );
}

/// e2-standard-2 may run on Skylake, Broadwell, Haswell or EPYC 2nd Gen; the GCP use table has
/// no Haswell row, so the mean of the other three (as CCF's `getMinWatts` averages the
/// processors it knows): min (0.61298885 + 0.71283422 + 0.47426215) / 3, max (3.86794593 +
/// 3.38574730 + 1.57518729) / 3, GB per chip (75.09996 + 69.64706 + 129.77778) / 3. At 25 %:
/// 2 × (min + 0.25 × (max − min)) = 2.371522703 W; memory (128 / 1 − GB per chip) × 8/128 ×
/// 0.392 = 0.894047512 W.
#[test]
fn gcp_type_with_several_microarchitectures_averages_them() {
    let e = estimate(&input(Some("GCP"), Some("e2-standard-2"), None, Some(0.25))).expect("known");
    let min = (0.612_988_853_904_032_5 + 0.712_834_224_598_930_5 + 0.474_262_152_777_777_7) / 3.0;
    let max = (3.867_945_926_293_863_6 + 3.385_747_304_812_834_4 + 1.575_187_293_981_481) / 3.0;
    let gb = (75.099_957_819_957_82 + 69.647_058_823_529_4 + 129.777_777_777_777_77) / 3.0;
    close(
        watts(&e, Component::Cpu).expect("cpu"),
        2.0 * (min + 0.25 * (max - min)),
    );
    close(
        watts(&e, Component::Cpu).expect("cpu"),
        2.371_522_703_155_066_7,
    );
    close(
        watts(&e, Component::Dram).expect("dram"),
        (128.0 - gb) * 8.0 / 128.0 * 0.392,
    );
    assert!(
        e.basis.starts_with(
            "gcp e2-standard-2, CCF coefficients (mean of Skylake, Broadwell, EPYC 2nd Gen), 25 % CPU;"
        ),
        "{}",
        e.basis
    );
}

/// (d) aws-instances.csv, p3.2xlarge (1 Tesla V100, 8 of 72 vCPUs): GPUWatt 34,8 / 95,5 /
/// 225,7 / 305,6, PkgWatt 3,89 / 11,10 / 22,82 / 31,24, RAMWatt 12,20 / 18,30 / 24,40 / 36,60,
/// Delta 6,4. At 30 %: GPU 95.5 + 0.5 × (225.7 − 95.5) = 160.6 W, CPU 11.10 + 0.5 × 11.72 =
/// 16.96 W, memory 18.30 + 0.5 × 6.10 = 21.35 W, other 6.4 W. Embodied `p3.2xlarge,3543.79`.
#[test]
fn gpu_instance_has_gpu_watts_at_the_same_load() {
    let e = estimate(&input(Some("aws"), Some("p3.2xlarge"), None, Some(0.3))).expect("known");
    close(watts(&e, Component::Gpu).expect("gpu"), 160.6);
    close(watts(&e, Component::Cpu).expect("cpu"), 16.96);
    close(watts(&e, Component::Dram).expect("dram"), 21.35);
    close(watts(&e, Component::Other).expect("other"), 6.4);
    let embodied = e.embodied.expect("embodied");
    close(embodied.machine_grams, 3_543_790.0);
    close(embodied.share, 8.0 / 72.0);
    assert_eq!(
        e.basis,
        "aws p3.2xlarge, Teads, 30 % CPU (1 Tesla V100 GPU at the same load); embodied CCF, \
         8/72 vCPUs"
    );

    // p3.16xlarge: 8 of them, GPUWatt 763,8 at 10 %.
    let e = estimate(&input(Some("aws"), Some("p3.16xlarge"), None, Some(0.1))).expect("known");
    close(watts(&e, Component::Gpu).expect("gpu"), 763.8);
    assert!(
        e.basis.contains("(8 Tesla V100 GPUs at the same load)"),
        "{}",
        e.basis
    );

    // g4dn.xlarge (1 T4): GPUWatt 8,1 / 22,3 / 52,7 / 71,3; at the assumed 50 % exactly 52.7 W.
    let e = estimate(&input(Some("aws"), Some("g4dn.xlarge"), None, None)).expect("known");
    close(watts(&e, Component::Gpu).expect("gpu"), 52.7);
    assert!(e.basis.contains("50 % CPU assumed"), "{}", e.basis);
}

/// Azure's API names sizes `Standard_NC6`; the table `NC6` (1 GPU, microarchitecture
/// "Unknown", so CCF's average coefficients). The GPU has no watts in CCF's tables.
#[test]
fn azure_gpu_type_is_found_and_its_gpu_left_out() {
    let e = estimate(&input(Some("azure"), Some("Standard_NC6"), None, Some(0.5))).expect("known");
    assert_eq!(watts(&e, Component::Gpu), None);
    let tables = tables::tables().expect("tables");
    let avg = tables.azure.average_coefficients();
    close(
        watts(&e, Component::Cpu).expect("cpu"),
        6.0 * (avg.min_watts + 0.5 * (avg.max_watts - avg.min_watts)),
    );
    assert!(e.basis.contains("1 GPU not estimated"), "{}", e.basis);
    assert!(
        e.basis
            .contains("average coefficients (Unknown not in the table)")
    );
    assert!(e.embodied.is_some());
    let e = estimate(&input(Some("azure"), Some("Standard_D2s_v3"), None, None)).expect("known");
    close(e.embodied.expect("embodied").share, 2.0 / 64.0);
}

/// (e) A type in no table: CPU from the mean of the cloud's use table × vCPUs, nothing else.
/// coefficients-azure-use.csv's eight rows: min 0.44538981 + 1.90056818 + 0.63894936 +
/// 0.64460445 + 0.71283422 + 0.47426215 + 1.13842593 + 0.82265625, max 2.01932780 + 6.01291035
/// + 3.96730473 + 4.19343644 + 3.68532754 + 1.69296152 + 5.42175926 + 2.55312500, each / 8.
#[test]
fn unknown_type_gets_average_coefficients_and_no_embodied() {
    let min = [
        0.445_389_811_197_916_65,
        1.900_568_181_818_181_4,
        0.638_949_358_152_351_9,
        0.644_604_445_425_345_2,
        0.712_834_224_598_930_4,
        0.474_262_152_777_777_8,
        1.138_425_925_925_926,
        0.822_656_25,
    ]
    .iter()
    .sum::<f64>()
        / 8.0;
    let max = [
        2.019_327_799_479_166_5,
        6.012_910_353_535_353,
        3.967_304_734_393_756_4,
        4.193_436_438_541_878,
        3.685_327_540_106_951_6,
        1.692_961_516_203_703_7,
        5.421_759_259_259_258,
        2.553_125,
    ]
    .iter()
    .sum::<f64>()
        / 8.0;
    let e = estimate(&input(
        Some("azure"),
        Some("Standard_Z99_v9"),
        Some(4),
        Some(0.2),
    ))
    .expect("vCPUs known");
    assert_eq!(e.power.len(), 1);
    close(
        watts(&e, Component::Cpu).expect("cpu"),
        4.0 * (min + 0.2 * (max - min)),
    );
    assert!(e.embodied.is_none(), "never a guess shown as data");
    assert_eq!(
        e.basis,
        "azure Standard_Z99_v9 not in CCF's tables: average coefficients for 4 vCPUs, 20 % CPU; \
         no embodied figure"
    );

    // Unknown and no vCPUs, or no instance type and no vCPUs: nothing to say.
    assert!(estimate(&input(Some("aws"), Some("x9.huge"), None, None)).is_none());
    assert!(estimate(&input(Some("aws"), None, None, None)).is_none());
}

#[test]
fn resource_without_a_covered_cloud_is_left_out() {
    assert!(estimate(&input(None, Some("m5.xlarge"), Some(4), Some(0.3))).is_none());
    assert!(estimate(&input(Some("hetzner"), Some("cx22"), Some(2), None)).is_none());
}

#[test]
fn settings_and_samples_choose_the_utilization() {
    let tables = tables::tables().expect("tables");
    let no_sample = input(Some("aws"), Some("m5.xlarge"), None, None);
    let at_ten = estimate_one(tables, &no_sample, 0.1).expect("known");
    close(watts(&at_ten, Component::Cpu).expect("cpu"), 6.11);
    assert!(at_ten.basis.contains("10 % CPU assumed"));
    let measured = input(Some("aws"), Some("m5.xlarge"), None, Some(f64::NAN));
    assert!(
        estimate(&measured)
            .expect("known")
            .basis
            .contains("50 % CPU assumed")
    );

    let set = |v: &str| vec![("utilization_default".to_owned(), v.to_owned())];
    assert_eq!(utilization_default(&vec![]).ok(), Some(0.5));
    assert_eq!(utilization_default(&set(" 0.25")).ok(), Some(0.25));
    for bad in ["1.5", "-0.1", "half", "NaN"] {
        assert!(
            matches!(
                utilization_default(&set(bad)),
                Err(ProviderError::BadConfig(_))
            ),
            "{bad}"
        );
    }

    let out = Ccf::estimate(
        set("0.5"),
        vec![
            input(Some("aws"), Some("m5.xlarge"), None, None),
            input(None, Some("m5.xlarge"), None, None),
        ],
    )
    .expect("estimates");
    assert_eq!(out.len(), 1, "the resource without a cloud is left out");
}

/// mock-cloud's `cloud` setting hands out these types (plugins/mock-cloud/README.md): each is
/// in the tables, with an embodied share, and its GPU where the cloud's model has watts.
#[test]
fn every_type_mock_cloud_hands_out_is_known() {
    for (cloud, kind, gpu) in [
        ("aws", "m5.large", false),
        ("aws", "m5.xlarge", false),
        ("aws", "c5.2xlarge", false),
        ("aws", "p3.2xlarge", true),
        ("aws", "g4dn.xlarge", true),
        ("gcp", "n2-standard-2", false),
        ("gcp", "n2-standard-4", false),
        ("gcp", "c2-standard-8", false),
        ("gcp", "a2-highgpu-1g", false),
        ("gcp", "e2-standard-4", false),
        ("azure", "Standard_D2s_v3", false),
        ("azure", "Standard_D4s_v3", false),
        ("azure", "Standard_F8s_v2", false),
        ("azure", "Standard_NC6s_v3", false),
        ("azure", "Standard_NC4as_T4_v3", false),
    ] {
        let e = estimate(&input(Some(cloud), Some(kind), None, Some(0.4))).expect(kind);
        assert!(e.embodied.is_some(), "{kind}");
        assert!(!e.basis.contains("not in CCF's tables"), "{kind}");
        assert_eq!(watts(&e, Component::Gpu).is_some(), gpu, "{kind}");
    }
}

/// The host cuts a basis beyond 256 bytes and counts it against the plugin: no type of the
/// tables comes near, and a made-up name of any length is cut at a character boundary.
#[test]
fn every_basis_fits_the_hosts_text_limit() {
    let tables = tables::tables().expect("tables");
    for (cloud, names) in [
        ("aws", tables.aws.teads.keys().collect::<Vec<_>>()),
        ("gcp", tables.gcp.types.keys().collect()),
        ("azure", tables.azure.types.keys().collect()),
    ] {
        for name in names {
            let e = estimate(&input(Some(cloud), Some(name), None, None)).expect("known");
            assert!(e.basis.len() <= 160, "{}", e.basis);
            assert!(!e.basis.contains("not in CCF's tables"), "{}", e.basis);
        }
    }
    let long = format!("x{}", "é".repeat(300));
    let e = estimate(&input(Some("gcp"), Some(&long), Some(2), None)).expect("vCPUs known");
    // "gcp x" is 5 bytes and each é 2: 125 of them fit in 255, the 126th would end at 257.
    assert_eq!(e.basis.len(), 255);
    assert!(e.basis.starts_with("gcp xéé") && e.basis.ends_with('é'));
}
