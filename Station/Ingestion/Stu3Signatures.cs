namespace HealthTrain.Station.Ingestion;

/// <summary>
/// Marks of FHIR STU3 (3.0) content that an R4 resource cannot carry: elements STU3 defines and R4 removed or renamed,
/// STU3-only resource types, STU3 codes where R4 has a CodeableConcept, and profiles or fhirVersion values that name STU3.
/// </summary>
/// <remarks>Only marks that are invalid in R4 are listed, so valid R4 never matches (profile and fhirVersion hints excepted, which name STU3 explicitly).</remarks>
internal static class Stu3Signatures
{
    /// <summary>Type.element → what R4 has instead.</summary>
    private static readonly Dictionary<string, string> Elements = new(StringComparer.Ordinal)
    {
        ["Observation.context"] = "R4: Observation.encounter",
        ["Observation.comment"] = "R4: Observation.note",
        ["Condition.context"] = "R4: Condition.encounter",
        ["Condition.assertedDate"] = "R4: Condition.recordedDate",
        ["Condition.abatementBoolean"] = "removed in R4",
        ["Procedure.context"] = "R4: Procedure.encounter",
        ["Procedure.notDone"] = "R4: Procedure.status not-done",
        ["Procedure.notDoneReason"] = "R4: Procedure.statusReason",
        ["Procedure.definition"] = "R4: Procedure.instantiatesCanonical",
        ["DiagnosticReport.context"] = "R4: DiagnosticReport.encounter",
        ["DiagnosticReport.codedDiagnosis"] = "R4: DiagnosticReport.conclusionCode",
        ["DiagnosticReport.image"] = "R4: DiagnosticReport.media",
        ["MedicationRequest.context"] = "R4: MedicationRequest.encounter",
        ["MedicationRequest.definition"] = "R4: MedicationRequest.instantiatesCanonical",
        ["MedicationStatement.taken"] = "removed in R4",
        ["MedicationStatement.notTaken"] = "removed in R4",
        ["MedicationStatement.reasonNotTaken"] = "R4: MedicationStatement.statusReason",
        ["MedicationAdministration.notGiven"] = "R4: MedicationAdministration.status not-done",
        ["MedicationAdministration.reasonNotGiven"] = "R4: MedicationAdministration.statusReason",
        ["MedicationAdministration.definition"] = "R4: MedicationAdministration.instantiates",
        ["Immunization.notGiven"] = "R4: Immunization.status not-done",
        ["Immunization.date"] = "R4: Immunization.occurrenceDateTime",
        ["Immunization.explanation"] = "R4: Immunization.reasonCode and statusReason",
        ["Immunization.practitioner"] = "R4: Immunization.performer",
        ["Immunization.vaccinationProtocol"] = "R4: Immunization.protocolApplied",
        ["CarePlan.context"] = "R4: CarePlan.encounter",
        ["CarePlan.definition"] = "R4: CarePlan.instantiatesCanonical",
        ["CareTeam.context"] = "R4: CareTeam.encounter",
        ["Goal.status"] = "R4: Goal.lifecycleStatus",
        ["AllergyIntolerance.assertedDate"] = "R4: AllergyIntolerance.recordedDate",
        ["AllergyIntolerance.lastOccurence"] = "R4: AllergyIntolerance.lastOccurrence",
        ["Claim.organization"] = "R4: Claim.provider",
        ["Claim.employmentImpacted"] = "removed in R4",
        ["Claim.hospitalization"] = "removed in R4",
        ["Claim.information"] = "R4: Claim.supportingInfo",
        ["ExplanationOfBenefit.organization"] = "R4: ExplanationOfBenefit.provider",
        ["ExplanationOfBenefit.information"] = "R4: ExplanationOfBenefit.supportingInfo",
        ["ExplanationOfBenefit.employmentImpacted"] = "removed in R4",
        ["ExplanationOfBenefit.hospitalization"] = "removed in R4",
        ["Encounter.incomingReferral"] = "R4: Encounter.basedOn",
        ["Communication.context"] = "R4: Communication.encounter",
        ["Communication.notDone"] = "R4: Communication.status not-done",
        ["Patient.animal"] = "R4: the patient-animal extension",
        ["Medication.isBrand"] = "removed in R4",
        ["Medication.isOverTheCounter"] = "removed in R4",
        ["Medication.package"] = "removed in R4",
        ["DocumentReference.created"] = "removed in R4",
        ["DocumentReference.indexed"] = "R4: DocumentReference.date",
        ["DocumentReference.class"] = "R4: DocumentReference.category",
        ["ImagingStudy.uid"] = "R4: ImagingStudy.identifier",
        ["ImagingStudy.context"] = "R4: ImagingStudy.encounter",
        ["ImagingStudy.accession"] = "R4: ImagingStudy.identifier",
        ["ImagingStudy.availability"] = "removed in R4",
    };

    /// <summary>Type.element whose STU3 type is a plain code (a JSON string) and whose R4 type is a CodeableConcept.</summary>
    private static readonly HashSet<string> CodesThatBecameConcepts = new(StringComparer.Ordinal)
    {
        "Condition.clinicalStatus",
        "Condition.verificationStatus",
        "AllergyIntolerance.clinicalStatus",
        "AllergyIntolerance.verificationStatus",
    };

    /// <summary>Resource types STU3 has and R4 does not, with what replaced them.</summary>
    private static readonly Dictionary<string, string> Types = new(StringComparer.Ordinal)
    {
        ["ProcedureRequest"] = "R4: ServiceRequest",
        ["ReferralRequest"] = "R4: ServiceRequest",
        ["ProcessRequest"] = "R4: Task",
        ["ProcessResponse"] = "R4: Task",
        ["EligibilityRequest"] = "R4: CoverageEligibilityRequest",
        ["EligibilityResponse"] = "R4: CoverageEligibilityResponse",
        ["DataElement"] = "R4: StructureDefinition",
        ["ImagingManifest"] = "removed in R4",
        ["Sequence"] = "R4: MolecularSequence",
        ["DeviceComponent"] = "R4: DeviceDefinition",
        ["ServiceDefinition"] = "R4: PlanDefinition",
        ["BodySite"] = "R4: BodyStructure",
        ["ExpansionProfile"] = "removed in R4",
    };

    /// <summary>Top-level element names worth collecting while scanning (any resource type).</summary>
    private static readonly HashSet<string> CandidateNames = new(
        Elements.Keys.Concat(CodesThatBecameConcepts).Select(k => k[(k.IndexOf('.') + 1)..]),
        StringComparer.Ordinal);

    private static readonly HashSet<string>.AlternateLookup<ReadOnlySpan<char>> CandidateLookup = CandidateNames.GetAlternateLookup<ReadOnlySpan<char>>();

    /// <summary>True when a top-level element called <paramref name="name"/> may be an STU3 mark for some type.</summary>
    public static bool IsCandidate(string name) => CandidateNames.Contains(name);

    /// <summary>True when a top-level element whose UTF-8 name is <paramref name="utf8Name"/> may be an STU3 mark for some type (no allocation).</summary>
    public static bool IsCandidate(ReadOnlySpan<byte> utf8Name)
    {
        if (utf8Name.Length is < 3 or > 32)
        {
            return false;
        }

        Span<char> chars = stackalloc char[32];
        for (var i = 0; i < utf8Name.Length; i++)
        {
            if (utf8Name[i] > 0x7F)
            {
                return false;
            }

            chars[i] = (char)utf8Name[i];
        }

        return CandidateLookup.Contains(chars[..utf8Name.Length]);
    }

    /// <summary>The STU3 mark for <paramref name="type"/>.<paramref name="element"/> holding a value of JSON kind <paramref name="isString"/>, or null.</summary>
    public static string? ForElement(string type, string element, bool isString)
    {
        var key = type + "." + element;
        if (Elements.TryGetValue(key, out var instead))
        {
            return $"{key} ({instead})";
        }

        return isString && CodesThatBecameConcepts.Contains(key) ? $"{key} as a code (R4: a CodeableConcept)" : null;
    }

    /// <summary>The STU3 mark for a resource type R4 does not have, or null.</summary>
    public static string? ForType(string type) =>
        Types.TryGetValue(type, out var instead) ? $"resource type {type} ({instead})" : null;

    /// <summary>The STU3 mark in a <c>meta.profile</c> URL, or null.</summary>
    public static string? ForProfile(string profile)
    {
        if (profile.Contains("standardhealthrecord.org", StringComparison.OrdinalIgnoreCase))
        {
            return $"profile {profile} (Standard Health Record, defined on STU3)";
        }

        return profile.Contains("/STU3/", StringComparison.OrdinalIgnoreCase)
            || profile.Contains("hl7.org/fhir/3.0", StringComparison.OrdinalIgnoreCase)
                ? $"profile {profile} (an STU3 profile)"
                : null;
    }

    /// <summary>The STU3 mark in a resource's <c>fhirVersion</c> (CapabilityStatement, StructureDefinition, ImplementationGuide), or null.</summary>
    public static string? ForFhirVersion(string version) =>
        version.StartsWith("3.", StringComparison.Ordinal) || version.StartsWith("1.", StringComparison.Ordinal)
            ? $"fhirVersion {version}"
            : null;

    /// <summary>
    /// The STU3 mark in one of the Firely parser's messages ("Found unknown element 'context'. At Observation.context, line 3…",
    /// "Encountered a json primitive while expecting a json object … At Condition.clinicalStatus…"), or null.
    /// </summary>
    public static string? ForParserMessage(string message)
    {
        var at = message.IndexOf(" At ", StringComparison.Ordinal);
        if (at < 0)
        {
            return null;
        }

        var path = message.AsSpan(at + 4);
        var end = path.IndexOfAny(',', ' ', '[');
        if (end >= 0)
        {
            path = path[..end];
        }

        var dot = path.IndexOf('.');
        if (dot <= 0)
        {
            return null;
        }

        var type = path[..dot].ToString();
        var rest = path[(dot + 1)..];
        var next = rest.IndexOf('.');
        var element = (next < 0 ? rest : rest[..next]).ToString();
        return ForElement(type, element, isString: message.Contains("json primitive", StringComparison.Ordinal));
    }
}

/// <summary>STU3 marks found in one resource or bundle, counted, for one readable reason.</summary>
internal sealed class Stu3Evidence
{
    private readonly Dictionary<string, int> _marks = new(StringComparer.Ordinal);

    public bool Any => _marks.Count > 0;

    public void Add(string? mark)
    {
        if (mark is not null)
        {
            _marks[mark] = _marks.GetValueOrDefault(mark) + 1;
        }
    }

    public void Clear() => _marks.Clear();

    /// <summary>"Observation.context (R4: Observation.encounter) ×23; Immunization.notGiven (…) ×7; and 2 more".</summary>
    public string Describe()
    {
        var top = _marks.OrderByDescending(m => m.Value).ThenBy(m => m.Key, StringComparer.Ordinal).ToList();
        var text = string.Join("; ", top.Take(4).Select(m => m.Value > 1 ? $"{m.Key} ×{m.Value}" : m.Key));
        return top.Count > 4 ? $"{text}; and {top.Count - 4} more" : text;
    }
}
