package synth

// Clinical vocabulary: the SNOMED CT, LOINC, RxNorm and CVX concepts the
// generator uses, with their displays. Codes are real; the catalogue is
// deliberately small so that every record stays coherent.

func sct(c, d string) code   { return code{sysSNOMED, c, d} }
func loinc(c, d string) code { return code{sysLOINC, c, d} }
func rxn(c, d string) code   { return code{sysRxNorm, c, d} }
func icd(c, d string) code   { return code{sysICD10CM, c, d} }

// Encounter classes (v3 ActCode) and types.
var (
	classAMB  = code{sysActCode, "AMB", "ambulatory"}
	classEMER = code{sysActCode, "EMER", "emergency"}
	classIMP  = code{sysActCode, "IMP", "inpatient encounter"}

	typeWellChild = sct("410620009", "Well child visit (procedure)")
	typeCheckup   = sct("162673000", "General examination of patient (procedure)")
	typeFollowUp  = sct("390906007", "Follow-up encounter (procedure)")
	typeSymptom   = sct("185345009", "Encounter for symptom (procedure)")
	typeER        = sct("50849002", "Emergency room admission (procedure)")
	typeEmergAdm  = sct("183452005", "Emergency hospital admission (procedure)")
)

// medDef is a medication with its usual sig.
type medDef struct {
	code   code
	sig    string // Dosage.text
	dose   float64
	unit   string // human unit of one dose
	ucum   string // UCUM (annotation) code of one dose
	perDay int    // doses a day; 0 with prn means as needed
	prn    bool
	route  code
	supply int // dispensed doses
	days   int // acute course length; 0 for continuing therapy
}

var (
	routeOral       = sct("26643006", "Oral route")
	routeInhaled    = sct("447694001", "Respiratory tract route (qualifier value)")
	routeSublingual = sct("37839007", "Sublingual route (qualifier value)")
)

var (
	medMetformin = medDef{code: rxn("860975", "24 HR metformin hydrochloride 500 MG Extended Release Oral Tablet"),
		sig: "Take 1 tablet by mouth twice daily with meals", dose: 1, unit: "tablet", ucum: "{tbl}", perDay: 2, route: routeOral, supply: 180}
	medLisinopril = medDef{code: rxn("314076", "lisinopril 10 MG Oral Tablet"),
		sig: "Take 1 tablet by mouth once daily", dose: 1, unit: "tablet", ucum: "{tbl}", perDay: 1, route: routeOral, supply: 90}
	medHCTZ = medDef{code: rxn("310798", "hydrochlorothiazide 25 MG Oral Tablet"),
		sig: "Take 1 tablet by mouth every morning", dose: 1, unit: "tablet", ucum: "{tbl}", perDay: 1, route: routeOral, supply: 90}
	medAmlodipine = medDef{code: rxn("197361", "amlodipine 5 MG Oral Tablet"),
		sig: "Take 1 tablet by mouth once daily", dose: 1, unit: "tablet", ucum: "{tbl}", perDay: 1, route: routeOral, supply: 90}
	medSimvastatin = medDef{code: rxn("312961", "simvastatin 20 MG Oral Tablet"),
		sig: "Take 1 tablet by mouth at bedtime", dose: 1, unit: "tablet", ucum: "{tbl}", perDay: 1, route: routeOral, supply: 90}
	medAlbuterol = medDef{code: rxn("745679", "200 ACTUAT albuterol 0.09 MG/ACTUAT Metered Dose Inhaler"),
		sig: "Inhale 2 puffs every 4 to 6 hours as needed for wheezing or shortness of breath", dose: 2, unit: "puff", ucum: "{puff}", prn: true, route: routeInhaled, supply: 200}
	medFluticasone = medDef{code: rxn("895994", "120 ACTUAT fluticasone propionate 0.044 MG/ACTUAT Metered Dose Inhaler"),
		sig: "Inhale 2 puffs twice daily; rinse mouth after use", dose: 2, unit: "puff", ucum: "{puff}", perDay: 2, route: routeInhaled, supply: 120}
	medClopidogrel = medDef{code: rxn("309362", "clopidogrel 75 MG Oral Tablet"),
		sig: "Take 1 tablet by mouth once daily", dose: 1, unit: "tablet", ucum: "{tbl}", perDay: 1, route: routeOral, supply: 90}
	medNitro = medDef{code: rxn("705129", "nitroglycerin 0.4 MG/ACTUAT Mucosal Spray"),
		sig: "1 spray under the tongue at onset of chest pain; may repeat every 5 minutes, up to 3 sprays", dose: 1, unit: "spray", ucum: "{spray}", prn: true, route: routeSublingual, supply: 200}
	medCitalopram = medDef{code: rxn("200371", "citalopram 20 MG Oral Tablet"),
		sig: "Take 1 tablet by mouth once daily", dose: 1, unit: "tablet", ucum: "{tbl}", perDay: 1, route: routeOral, supply: 90}
	medAcetaminophen = medDef{code: rxn("313782", "acetaminophen 325 MG Oral Tablet"),
		sig: "Take 2 tablets by mouth every 6 hours as needed for pain; no more than 8 tablets a day", dose: 2, unit: "tablet", ucum: "{tbl}", prn: true, route: routeOral, supply: 60}
	medAmoxicillin = medDef{code: rxn("308182", "amoxicillin 250 MG Oral Capsule"),
		sig: "Take 2 capsules by mouth twice daily for 10 days", dose: 2, unit: "capsule", ucum: "{cap}", perDay: 2, route: routeOral, supply: 40, days: 10}
	medAzithromycin = medDef{code: rxn("141962", "azithromycin 250 MG Oral Capsule"),
		sig: "Take 2 capsules by mouth on day 1, then 1 capsule daily on days 2 to 5", dose: 1, unit: "capsule", ucum: "{cap}", perDay: 1, route: routeOral, supply: 6, days: 5}
	medAcetaminophenShort = medDef{code: rxn("313782", "acetaminophen 325 MG Oral Tablet"),
		sig: "Take 2 tablets by mouth every 6 hours as needed for pain or fever", dose: 2, unit: "tablet", ucum: "{tbl}", prn: true, route: routeOral, supply: 24, days: 3}
)

// planDef is a CarePlan for a chronic condition.
type planDef struct {
	category   code
	activities []code
}

var (
	planDiabetes = &planDef{sct("698360004", "Diabetes self management plan"),
		[]code{sct("160670007", "Diabetic diet"), sct("229065009", "Exercise therapy")}}
	planHypertension = &planDef{sct("443402002", "Lifestyle education regarding hypertension (procedure)"),
		[]code{sct("386463000", "Prescribed activity/exercise education"), sct("226234005", "Healthy diet")}}
	planAsthma = &planDef{sct("699728000", "Asthma self management"),
		[]code{sct("710818004", "Inhaled steroid therapy"), sct("708409001", "Home nebulizer therapy")}}
)

// chronic condition keys; the order is the order of onset sampling.
const (
	cAsthma = iota
	cHypertension
	cHyperlipidemia
	cPrediabetes
	cDiabetes
	cCAD
	cCOPD
	cDepression
	cOsteoarthritis
	cObesity
	numChronic
)

type chronicDef struct {
	snomed, icd code
	meds        []medDef
	plan        *planDef
}

var chronicDefs = [numChronic]chronicDef{
	cAsthma: {sct("195967001", "Asthma"), icd("J45.909", "Unspecified asthma, uncomplicated"),
		[]medDef{medAlbuterol, medFluticasone}, planAsthma},
	cHypertension: {sct("38341003", "Hypertensive disorder, systemic arterial (disorder)"), icd("I10", "Essential (primary) hypertension"),
		[]medDef{medLisinopril, medHCTZ, medAmlodipine}, planHypertension},
	cHyperlipidemia: {sct("55822004", "Hyperlipidemia (disorder)"), icd("E78.5", "Hyperlipidemia, unspecified"),
		[]medDef{medSimvastatin}, nil},
	cPrediabetes: {sct("15777000", "Prediabetes (finding)"), icd("R73.03", "Prediabetes"),
		nil, planDiabetes},
	cDiabetes: {sct("44054006", "Diabetes mellitus type 2 (disorder)"), icd("E11.9", "Type 2 diabetes mellitus without complications"),
		[]medDef{medMetformin}, planDiabetes},
	cCAD: {sct("53741008", "Coronary arteriosclerosis (disorder)"), icd("I25.10", "Atherosclerotic heart disease of native coronary artery without angina pectoris"),
		[]medDef{medClopidogrel, medNitro}, nil},
	cCOPD: {sct("13645005", "Chronic obstructive lung disease (disorder)"), icd("J44.9", "Chronic obstructive pulmonary disease, unspecified"),
		[]medDef{medAlbuterol}, nil},
	cDepression: {sct("35489007", "Depressive disorder (disorder)"), icd("F32.A", "Depression, unspecified"),
		[]medDef{medCitalopram}, nil},
	cOsteoarthritis: {sct("239873007", "Osteoarthritis of knee (disorder)"), icd("M17.9", "Osteoarthritis of knee, unspecified"),
		[]medDef{medAcetaminophen}, nil},
	cObesity: {sct("414916001", "Obesity (disorder)"), icd("E66.9", "Obesity, unspecified"),
		nil, nil},
}

// acuteDef is an episode of illness or injury and the encounter it brings.
type acuteDef struct {
	snomed, icd code
	class       code // AMB, EMER or IMP
	minAge      float64
	maxAge      float64
	weight      float64 // relative frequency
	fever       bool
	resp        bool
	days        int    // usual duration until resolution
	antibiotic  bool   // amoxicillin, or azithromycin for the penicillin-allergic
	analgesic   bool   // acetaminophen
	procs       []code // procedures done during the encounter
	note        string // plan line of the encounter's note
}

var (
	procThroatCulture = sct("117015009", "Throat culture (procedure)")
	procChestXray     = sct("399208008", "Plain X-ray of chest (procedure)")
	procSuture        = sct("288086009", "Suture open wound (procedure)")
	procECG           = sct("29303009", "Electrocardiographic procedure (procedure)")
	procAppendectomy  = sct("80146002", "Appendectomy (procedure)")
	procStent         = sct("36969009", "Placement of stent in coronary artery (procedure)")
	procSpirometry    = sct("127783003", "Spirometry (procedure)")
	procMedRec        = sct("430193006", "Medication reconciliation (procedure)")
	procDepScreen     = sct("171207006", "Depression screening (procedure)")
)

var acuteDefs = []acuteDef{
	{sct("444814009", "Viral sinusitis (disorder)"), icd("J01.90", "Acute sinusitis, unspecified"), classAMB, 2, 120, 6, false, true, 10, false, false, nil,
		"Supportive care, saline irrigation, fluids."},
	{sct("10509002", "Acute bronchitis (disorder)"), icd("J20.9", "Acute bronchitis, unspecified"), classAMB, 1, 120, 4, true, true, 14, false, true, []code{procChestXray},
		"Chest X-ray clear. Rest, fluids, antipyretics."},
	{sct("195662009", "Acute viral pharyngitis (disorder)"), icd("J02.9", "Acute pharyngitis, unspecified"), classAMB, 2, 120, 5, true, false, 7, false, true, []code{procThroatCulture},
		"Rapid strep negative. Symptomatic care."},
	{sct("43878008", "Streptococcal sore throat (disorder)"), icd("J02.0", "Streptococcal pharyngitis"), classAMB, 3, 60, 3, true, false, 10, true, false, []code{procThroatCulture},
		"Rapid strep positive. Antibiotic course prescribed."},
	{sct("65363002", "Otitis media (disorder)"), icd("H66.90", "Otitis media, unspecified, unspecified ear"), classAMB, 0.5, 10, 6, true, false, 10, true, false, nil,
		"Antibiotic course prescribed; recheck if not improving in 3 days."},
	{sct("44465007", "Sprain of ankle (disorder)"), icd("S93.409A", "Sprain of unspecified ligament of unspecified ankle, initial encounter"), classEMER, 8, 75, 3, false, false, 21, false, true, nil,
		"No fracture. Rest, ice, compression, elevation; analgesia."},
	{sct("283371005", "Laceration of forearm (disorder)"), icd("S51.819A", "Laceration without foreign body of unspecified forearm, initial encounter"), classEMER, 3, 90, 2, false, false, 14, false, false, []code{procSuture},
		"Wound irrigated and sutured. Suture removal in 10 days."},
	{sct("62106007", "Concussion with no loss of consciousness (disorder)"), icd("S06.0X0A", "Concussion without loss of consciousness, initial encounter"), classEMER, 5, 85, 1.5, false, false, 14, false, true, nil,
		"Neurologically intact. Cognitive rest; return precautions given."},
	{sct("29857009", "Chest pain (finding)"), icd("R07.9", "Chest pain, unspecified"), classEMER, 35, 120, 1.5, false, false, 2, false, false, []code{procECG},
		"ECG without acute changes; troponin negative. Outpatient follow-up."},
	{sct("233604007", "Pneumonia (disorder)"), icd("J18.9", "Pneumonia, unspecified organism"), classIMP, 0.5, 120, 1, true, true, 14, true, false, []code{procChestXray},
		"Treated with antibiotics and oxygen; afebrile for 24 hours before discharge."},
	{sct("74400008", "Appendicitis (disorder)"), icd("K37", "Unspecified appendicitis"), classIMP, 5, 50, 0.5, true, false, 14, false, true, []code{procAppendectomy},
		"Laparoscopic appendectomy without complication. Light activity for two weeks."},
}

// Episodes the generator treats specially.
var (
	acuteChestPain    = &acuteDefs[8]
	acutePneumonia    = &acuteDefs[9]
	acuteAppendicitis = &acuteDefs[10]
)

// Events that arise from a chronic condition rather than by chance.
var (
	acuteMI = acuteDef{sct("22298006", "Myocardial infarction (disorder)"), icd("I21.9", "Acute myocardial infarction, unspecified"), classIMP, 40, 120, 0, false, false, 0, false, false, []code{procECG, procStent},
		"Coronary stent placed. Dual antiplatelet therapy; cardiac rehabilitation referral."}
	acuteStroke = acuteDef{sct("230690007", "Cerebrovascular accident (disorder)"), icd("I63.9", "Cerebral infarction, unspecified"), classIMP, 50, 120, 0, false, false, 0, false, false, nil,
		"Comfort measures after discussion with family."}
)

// Observations (LOINC, UCUM).
var (
	obsWeight   = loinc("29463-7", "Body weight")
	obsHeight   = loinc("8302-2", "Body height")
	obsBMI      = loinc("39156-5", "Body mass index (BMI) [Ratio]")
	obsHead     = loinc("9843-4", "Head Occipital-frontal circumference")
	obsBP       = loinc("85354-9", "Blood pressure panel with all children optional")
	obsSys      = loinc("8480-6", "Systolic blood pressure")
	obsDia      = loinc("8462-4", "Diastolic blood pressure")
	obsHR       = loinc("8867-4", "Heart rate")
	obsRR       = loinc("9279-1", "Respiratory rate")
	obsTemp     = loinc("8310-5", "Body temperature")
	obsSmoking  = loinc("72166-2", "Tobacco smoking status")
	obsA1c      = loinc("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood")
	obsGlucose  = loinc("2339-0", "Glucose [Mass/volume] in Blood")
	obsBUN      = loinc("6299-2", "Urea nitrogen [Mass/volume] in Blood")
	obsCreat    = loinc("38483-4", "Creatinine [Mass/volume] in Blood")
	obsSodium   = loinc("2947-0", "Sodium [Moles/volume] in Blood")
	obsPotass   = loinc("6298-4", "Potassium [Moles/volume] in Blood")
	obsChol     = loinc("2093-3", "Cholesterol [Mass/volume] in Serum or Plasma")
	obsTrig     = loinc("2571-8", "Triglyceride [Mass/volume] in Serum or Plasma")
	obsLDL      = loinc("18262-6", "Cholesterol in LDL [Mass/volume] in Serum or Plasma by Direct assay")
	obsHDL      = loinc("2085-9", "Cholesterol in HDL [Mass/volume] in Serum or Plasma")
	panelBMP    = loinc("51990-0", "Basic metabolic panel - Blood")
	panelLipid  = loinc("57698-3", "Lipid panel with direct LDL - Serum or Plasma")
	docSummary  = loinc("18842-5", "Discharge summary")
	docEDNote   = loinc("34111-5", "Emergency department Note")
	catVital    = code{sysObsCat, "vital-signs", "Vital Signs"}
	catLab      = code{sysObsCat, "laboratory", "Laboratory"}
	catSocial   = code{sysObsCat, "social-history", "Social History"}
	smokeNever  = sct("266919005", "Never smoked tobacco (finding)")
	smokeFormer = sct("8517006", "Ex-smoker (finding)")
	smokeDaily  = sct("449868002", "Smokes tobacco daily (finding)")
)

// Immunizations (CVX).
type vaccine struct {
	cvx   string
	name  string
	route code
	ml    float64
}

var (
	routeIM = code{sysRoute, "IM", "Injection, intramuscular"}
	routeSC = code{sysRoute, "SQ", "Injection, subcutaneous"}
	routePO = code{sysRoute, "PO", "Swallow, oral"}

	vHepB     = vaccine{"08", "Hep B, adolescent or pediatric", routeIM, 0.5}
	vRota     = vaccine{"119", "rotavirus, monovalent", routePO, 1}
	vDTaP     = vaccine{"20", "DTaP", routeIM, 0.5}
	vHib      = vaccine{"49", "Hib (PRP-OMP)", routeIM, 0.5}
	vIPV      = vaccine{"10", "IPV", routeIM, 0.5}
	vPCV13    = vaccine{"133", "Pneumococcal conjugate PCV 13", routeIM, 0.5}
	vMMR      = vaccine{"03", "MMR", routeSC, 0.5}
	vVaricela = vaccine{"21", "varicella", routeSC, 0.5}
	vHepA     = vaccine{"83", "Hep A, ped/adol, 2 dose", routeIM, 0.5}
	vTdap     = vaccine{"115", "Tdap", routeIM, 0.5}
	vHPV      = vaccine{"165", "HPV9", routeIM, 0.5}
	vMenACWY  = vaccine{"114", "meningococcal MCV4P", routeIM, 0.5}
	vFlu      = vaccine{"140", "Influenza, seasonal, injectable, preservative free", routeIM, 0.5}
	vTd       = vaccine{"113", "Td (adult) preservative free", routeIM, 0.5}
	vPPSV23   = vaccine{"33", "pneumococcal polysaccharide PPV23", routeIM, 0.5}
	vZoster   = vaccine{"187", "zoster vaccine recombinant", routeIM, 0.5}
)

// dose is one scheduled childhood dose: the vaccine, which dose of its
// series, and the age in months at the well-child visit that gives it.
type dose struct {
	v      vaccine
	n      int
	months int
}

// childSchedule follows the CDC's routine schedule for birth to 18 years,
// with each dose placed at the well-child visit that usually gives it.
var childSchedule = []dose{
	{vHepB, 1, 0},
	{vHepB, 2, 1},
	{vDTaP, 1, 2}, {vHib, 1, 2}, {vIPV, 1, 2}, {vPCV13, 1, 2}, {vRota, 1, 2},
	{vDTaP, 2, 4}, {vHib, 2, 4}, {vIPV, 2, 4}, {vPCV13, 2, 4}, {vRota, 2, 4},
	{vDTaP, 3, 6}, {vIPV, 3, 6}, {vPCV13, 3, 6}, {vHepB, 3, 6},
	{vHib, 3, 12}, {vPCV13, 4, 12}, {vMMR, 1, 12}, {vVaricela, 1, 12}, {vHepA, 1, 12},
	{vDTaP, 4, 15},
	{vHepA, 2, 18},
	{vDTaP, 5, 48}, {vIPV, 4, 48}, {vMMR, 2, 48}, {vVaricela, 2, 48},
	{vTdap, 1, 132}, {vHPV, 1, 132}, {vMenACWY, 1, 132},
	{vHPV, 2, 144},
	{vMenACWY, 2, 192},
}

// wellChildMonths are the ages of the well-child visits (AAP periodicity).
var wellChildMonths = []int{0, 1, 2, 4, 6, 9, 12, 15, 18, 24, 30, 36, 48, 60, 72, 84, 96, 108, 120, 132, 144, 156, 168, 180, 192, 204}

// Allergies.
type allergyDef struct {
	code        code
	category    string // medication | food | environment
	weight      float64
	critical    string
	reaction    code
	minOnset    float64
	maxOnset    float64
	intolerance bool
}

var allergyDefs = []allergyDef{
	{sct("764146007", "Penicillin (substance)"), "medication", 8, "high", sct("271807003", "Eruption of skin (disorder)"), 1, 60, false},
	{sct("387458008", "Aspirin (substance)"), "medication", 1, "low", sct("422587007", "Nausea (finding)"), 15, 70, true},
	{sct("762952008", "Peanut (substance)"), "food", 2, "high", sct("39579001", "Anaphylaxis (disorder)"), 1, 6, false},
	{sct("227493005", "Cashew nut (substance)"), "food", 1, "high", sct("247472004", "Wheal (finding)"), 1, 10, false},
	{sct("102263004", "Eggs (edible) (substance)"), "food", 1.5, "low", sct("247472004", "Wheal (finding)"), 0.5, 3, false},
	{sct("3718001", "Cow's milk (substance)"), "food", 1.5, "low", sct("62315008", "Diarrhea (finding)"), 0.5, 3, true},
	{sct("111088007", "Latex (substance)"), "environment", 1, "low", sct("418290006", "Itching of skin (finding)"), 15, 50, false},
	{sct("260147004", "House dust mite (organism)"), "environment", 5, "low", sct("76067001", "Sneezing (finding)"), 2, 30, false},
	{sct("256259004", "Pollen (substance)"), "environment", 7, "low", sct("61582004", "Allergic rhinitis (disorder)"), 3, 40, false},
}
