//! Cloud Carbon Footprint's tables, embedded from `data/` (trimmed by `trim.py`, Apache-2.0,
//! see `data/NOTICE`) and parsed once, on the first call that needs them.

use std::collections::HashMap;
use std::sync::OnceLock;

/// The clouds the tables cover, as `location.cloud` names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cloud {
    Aws,
    Gcp,
    Azure,
}

impl Cloud {
    pub fn parse(name: &str) -> Option<Cloud> {
        match name.trim().to_ascii_lowercase().as_str() {
            "aws" => Some(Cloud::Aws),
            "gcp" => Some(Cloud::Gcp),
            "azure" => Some(Cloud::Azure),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Cloud::Aws => "aws",
            Cloud::Gcp => "gcp",
            Cloud::Azure => "azure",
        }
    }
}

/// The load points of Teads' measurements: idle, 10 %, 50 % and 100 % CPU.
pub const LOAD_POINTS: [f64; 4] = [0.0, 0.1, 0.5, 1.0];

/// One AWS instance type as Teads measured it. The watts are per instance (they scale with the
/// instance's vCPUs: a1.medium, 1 vCPU, PkgWatt @ 100% 2.55; a1.2xlarge, 8 vCPUs, 20.37).
#[derive(Clone, Debug, PartialEq)]
pub struct TeadsType {
    pub vcpus: u32,
    pub platform_vcpus: u32,
    pub gpus: u32,
    pub gpu_name: String,
    /// CPU package watts at the load points.
    pub pkg: [f64; 4],
    /// Memory watts at the load points.
    pub ram: [f64; 4],
    /// GPU watts at the load points (zeros without a GPU).
    pub gpu: [f64; 4],
    /// The rest of the machine (board, fans, disks, power supply), the same at every load.
    pub delta: f64,
}

/// One GCP or Azure instance type: its microarchitectures and sizes.
#[derive(Clone, Debug, PartialEq)]
pub struct CcfType {
    /// Every microarchitecture the type may run on, in the table's order, without repeats.
    pub microarchitectures: Vec<String>,
    /// Not always whole: Azure's constrained sizes (`DS11-1 v2`) have 0.5 or 0.25 in the table.
    pub vcpus: f64,
    pub memory_gb: f64,
    /// The largest instance of the family: the whole machine.
    pub platform_vcpus: f64,
    pub platform_memory_gb: f64,
    pub gpus: u32,
}

/// A row of coefficients-{cloud}-use.csv: watts per vCPU at idle and at full load, and the
/// memory a SPECpower server carried per CPU chip.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Coefficients {
    pub min_watts: f64,
    pub max_watts: f64,
    pub gb_per_chip: f64,
}

/// Everything the model knows about one cloud.
#[derive(Debug)]
pub struct CloudTables {
    /// AWS only: Teads' measurements by instance type.
    pub teads: HashMap<String, TeadsType>,
    /// GCP and Azure: sizes and microarchitectures by instance type.
    pub types: HashMap<String, CcfType>,
    /// Coefficients by microarchitecture, in the file's order.
    pub coefficients: Vec<(String, Coefficients)>,
    /// Manufacturing emissions of the whole server, kgCO2e, by instance type.
    pub embodied_kg: HashMap<String, f64>,
}

impl CloudTables {
    pub fn coefficients_of(&self, microarchitecture: &str) -> Option<Coefficients> {
        self.coefficients
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(microarchitecture))
            .map(|(_, c)| *c)
    }

    /// The mean of every row of the use table: Cloud Carbon Footprint's `MIN_WATTS_AVG` and
    /// `MAX_WATTS_AVG`, for a type or microarchitecture the table does not know.
    pub fn average_coefficients(&self) -> Coefficients {
        mean(self.coefficients.iter().map(|(_, c)| *c))
    }
}

/// The mean of some coefficient rows (the first row's when there is one only).
pub fn mean(rows: impl Iterator<Item = Coefficients>) -> Coefficients {
    let (mut n, mut min, mut max, mut gb) = (0.0, 0.0, 0.0, 0.0);
    for c in rows {
        n += 1.0;
        min += c.min_watts;
        max += c.max_watts;
        gb += c.gb_per_chip;
    }
    if n == 0.0 {
        return Coefficients {
            min_watts: 0.0,
            max_watts: 0.0,
            gb_per_chip: 0.0,
        };
    }
    Coefficients {
        min_watts: min / n,
        max_watts: max / n,
        gb_per_chip: gb / n,
    }
}

pub struct Tables {
    pub aws: CloudTables,
    pub gcp: CloudTables,
    pub azure: CloudTables,
}

impl Tables {
    pub fn cloud(&self, cloud: Cloud) -> &CloudTables {
        match cloud {
            Cloud::Aws => &self.aws,
            Cloud::Gcp => &self.gcp,
            Cloud::Azure => &self.azure,
        }
    }
}

/// The tables, parsed on first use. The files are part of the plugin, so an error here is a
/// packaging bug (the unit tests parse every row); it is reported on each call, not hidden.
pub fn tables() -> Result<&'static Tables, String> {
    static TABLES: OnceLock<Result<Tables, String>> = OnceLock::new();
    TABLES.get_or_init(parse_all).as_ref().map_err(Clone::clone)
}

/// The key an instance type is looked up by. Azure's API says `Standard_D2s_v3` where the
/// table says `D2s v3`; everything is compared in lower case.
pub fn type_key(cloud: Cloud, name: &str) -> String {
    let name = name.trim().to_ascii_lowercase();
    match cloud {
        Cloud::Azure => {
            let bare = name
                .strip_prefix("standard_")
                .or_else(|| name.strip_prefix("basic_"))
                .unwrap_or(&name);
            bare.replace('_', " ")
        }
        Cloud::Aws | Cloud::Gcp => name,
    }
}

pub fn parse_all() -> Result<Tables, String> {
    Ok(Tables {
        aws: CloudTables {
            teads: parse_teads(include_str!("../data/aws-instances.csv"))?,
            types: HashMap::new(),
            coefficients: parse_coefficients(
                "coefficients-aws-use.csv",
                include_str!("../data/coefficients-aws-use.csv"),
            )?,
            embodied_kg: parse_embodied(
                Cloud::Aws,
                "coefficients-aws-embodied.csv",
                include_str!("../data/coefficients-aws-embodied.csv"),
                "total",
            )?,
        },
        gcp: CloudTables {
            teads: HashMap::new(),
            types: parse_types(
                Cloud::Gcp,
                "gcp-instances.csv",
                include_str!("../data/gcp-instances.csv"),
                "Machine type",
            )?,
            coefficients: parse_coefficients(
                "coefficients-gcp-use.csv",
                include_str!("../data/coefficients-gcp-use.csv"),
            )?,
            embodied_kg: parse_embodied(
                Cloud::Gcp,
                "coefficients-gcp-embodied-mean.csv",
                include_str!("../data/coefficients-gcp-embodied-mean.csv"),
                "total_mean",
            )?,
        },
        azure: CloudTables {
            teads: HashMap::new(),
            types: parse_types(
                Cloud::Azure,
                "azure-instances.csv",
                include_str!("../data/azure-instances.csv"),
                "Virtual Machine",
            )?,
            coefficients: parse_coefficients(
                "coefficients-azure-use.csv",
                include_str!("../data/coefficients-azure-use.csv"),
            )?,
            embodied_kg: parse_embodied(
                Cloud::Azure,
                "coefficients-azure-embodied.csv",
                include_str!("../data/coefficients-azure-embodied.csv"),
                "total",
            )?,
        },
    })
}

/// A comma-separated table whose values hold no commas or quotes (`trim.py` checks): fields
/// are read by their header's name.
struct Csv<'a> {
    file: &'static str,
    header: Vec<&'a str>,
    lines: std::iter::Enumerate<std::str::Lines<'a>>,
}

struct Row<'a> {
    file: &'static str,
    line: usize,
    header: &'a [&'a str],
    fields: Vec<&'a str>,
}

impl<'a> Csv<'a> {
    fn new(file: &'static str, text: &'a str) -> Result<Csv<'a>, String> {
        let mut lines = text.lines().enumerate();
        let header = lines
            .next()
            .map(|(_, h)| h.split(',').collect())
            .ok_or_else(|| format!("{file} is empty"))?;
        Ok(Csv {
            file,
            header,
            lines,
        })
    }

    fn rows(&mut self) -> impl Iterator<Item = Row<'_>> {
        let (file, header) = (self.file, self.header.as_slice());
        self.lines
            .by_ref()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(move |(i, l)| Row {
                file,
                line: i + 1,
                header,
                fields: l.split(',').collect(),
            })
    }
}

impl Row<'_> {
    fn text(&self, column: &str) -> Result<&str, String> {
        let at = self
            .header
            .iter()
            .position(|h| *h == column)
            .ok_or_else(|| format!("{} has no column `{column}`", self.file))?;
        self.fields
            .get(at)
            .map(|f| f.trim())
            .ok_or_else(|| format!("{}:{}: no `{column}` field", self.file, self.line))
    }

    fn number(&self, column: &str) -> Result<f64, String> {
        let text = self.text(column)?;
        text.parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)
            .ok_or_else(|| {
                format!(
                    "{}:{}: `{column}` is `{text}`, not a number",
                    self.file, self.line
                )
            })
    }

    fn count(&self, column: &str) -> Result<u32, String> {
        let text = self.text(column)?;
        text.parse::<u32>().map_err(|_| {
            format!(
                "{}:{}: `{column}` is `{text}`, not a whole number",
                self.file, self.line
            )
        })
    }

    /// A count that may be empty (no GPUs).
    fn count_or_zero(&self, column: &str) -> Result<u32, String> {
        if self.text(column)?.is_empty() {
            Ok(0)
        } else {
            self.count(column)
        }
    }

    fn curve(&self, part: &str) -> Result<[f64; 4], String> {
        Ok([
            self.number(&format!("{part} @ Idle"))?,
            self.number(&format!("{part} @ 10%"))?,
            self.number(&format!("{part} @ 50%"))?,
            self.number(&format!("{part} @ 100%"))?,
        ])
    }
}

fn parse_teads(text: &str) -> Result<HashMap<String, TeadsType>, String> {
    let mut csv = Csv::new("aws-instances.csv", text)?;
    let mut out = HashMap::new();
    for row in csv.rows() {
        out.insert(
            type_key(Cloud::Aws, row.text("Instance type")?),
            TeadsType {
                vcpus: row.count("Instance vCPU")?,
                platform_vcpus: row.count("Platform Total Number of vCPU")?,
                gpus: row.count_or_zero("Instance Number of GPU")?,
                gpu_name: row.text("Platform GPU Name")?.to_owned(),
                pkg: row.curve("PkgWatt")?,
                ram: row.curve("RAMWatt")?,
                gpu: row.curve("GPUWatt")?,
                delta: row.number("Delta Full Machine")?,
            },
        );
    }
    Ok(out)
}

fn parse_types(
    cloud: Cloud,
    file: &'static str,
    text: &str,
    type_column: &str,
) -> Result<HashMap<String, CcfType>, String> {
    let mut csv = Csv::new(file, text)?;
    let mut out: HashMap<String, CcfType> = HashMap::new();
    for row in csv.rows() {
        let micro = row.text("Microarchitecture")?.to_owned();
        let this = CcfType {
            microarchitectures: vec![micro.clone()],
            vcpus: row.number("Instance vCPUs")?,
            memory_gb: row.number("Instance Memory")?,
            platform_vcpus: row.number("Platform vCPUs (highest vCPU possible)")?,
            platform_memory_gb: row.number("Platform Memory")?,
            gpus: row.count_or_zero("Instance GPUs")?,
        };
        match out.get_mut(&type_key(cloud, row.text(type_column)?)) {
            // A type has one row per microarchitecture, with the same sizes (or a repeated row).
            Some(known) => {
                if !known.microarchitectures.contains(&micro) {
                    known.microarchitectures.push(micro);
                }
            }
            None => {
                out.insert(type_key(cloud, row.text(type_column)?), this);
            }
        }
    }
    Ok(out)
}

fn parse_coefficients(
    file: &'static str,
    text: &str,
) -> Result<Vec<(String, Coefficients)>, String> {
    let mut csv = Csv::new(file, text)?;
    csv.rows()
        .map(|row| {
            Ok((
                row.text("Architecture")?.to_owned(),
                Coefficients {
                    min_watts: row.number("Min Watts")?,
                    max_watts: row.number("Max Watts")?,
                    gb_per_chip: row.number("GB/Chip")?,
                },
            ))
        })
        .collect()
}

fn parse_embodied(
    cloud: Cloud,
    file: &'static str,
    text: &str,
    total_column: &str,
) -> Result<HashMap<String, f64>, String> {
    let mut csv = Csv::new(file, text)?;
    csv.rows()
        .map(|row| {
            Ok((
                type_key(cloud, row.text("type")?),
                row.number(total_column)?,
            ))
        })
        .collect()
}
