package synth

// Name and place tables. Names are common given and family names drawn at
// random and combined, so a generated person is nobody in particular;
// contact details use the ranges reserved for fiction (555-01xx telephone
// numbers, example.com/org/net mail domains) and social security numbers
// in the 9xx area, which the SSA never assigns.

// culture groups names that go together, with the language a share of its
// members prefer.
type culture struct {
	weight       float64
	family       []string
	male, female []string // given names for people born before 1980
	maleNow      []string // given names for people born in 1980 or later
	femaleNow    []string
	midMale      []string // middle names; nil means the given-name list
	midFemale    []string
	lang         code
	langShare    float64 // share preferring lang over English
}

var (
	langEnglish    = code{sysBCP47, "en-US", "English (United States)"}
	langSpanish    = code{sysBCP47, "es", "Spanish"}
	langChinese    = code{sysBCP47, "zh", "Chinese"}
	langVietnamese = code{sysBCP47, "vi", "Vietnamese"}
	langHindi      = code{sysBCP47, "hi", "Hindi"}
)

var cultures = []culture{
	{
		weight: 64,
		family: []string{"Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson", "Anderson", "Taylor",
			"Thomas", "Moore", "Jackson", "Martin", "Thompson", "Harris", "Clark", "Lewis", "Robinson", "Walker",
			"Allen", "Wright", "Scott", "Baker", "Adams", "Nelson", "Campbell", "Mitchell", "Roberts", "Carter",
			"Phillips", "Evans", "Turner", "Parker", "Collins", "Edwards", "Stewart", "Morris", "Murphy", "Rogers",
			"Morgan", "Cooper", "Peterson", "Bailey", "Kelly", "Howard", "Bennett", "Hughes", "Sanders", "Myers",
			"Foster", "Powell", "Jenkins", "Russell", "Sullivan", "Fisher", "Henderson", "Coleman", "Simmons",
			"Patterson", "Reynolds", "Hamilton", "Graham", "Wallace", "Gallagher", "O'Brien", "Schneider",
			"Kowalski", "Novak", "Lindqvist", "Becker", "Hoffman", "Fitzgerald", "MacDonald", "Washington",
			"Dubois", "Rossi", "Bianchi", "Abernathy", "Whitfield", "Pemberton", "Okafor", "Mensah"},
		male: []string{"James", "Robert", "John", "Michael", "David", "William", "Richard", "Joseph", "Thomas",
			"Charles", "Daniel", "Donald", "Kenneth", "Steven", "Edward", "Ronald", "Gary", "Larry", "Dennis",
			"Jerry", "Frank", "Raymond", "Gerald", "Walter", "Harold", "Douglas", "Peter", "George", "Eugene"},
		female: []string{"Mary", "Patricia", "Linda", "Barbara", "Elizabeth", "Susan", "Margaret", "Dorothy",
			"Nancy", "Karen", "Betty", "Helen", "Sandra", "Donna", "Carol", "Sharon", "Deborah", "Judith",
			"Shirley", "Cynthia", "Kathleen", "Joan", "Janet", "Brenda", "Pamela", "Diane", "Carolyn", "Virginia"},
		maleNow: []string{"Christopher", "Matthew", "Joshua", "Andrew", "Daniel", "Michael", "Tyler", "Brandon",
			"Justin", "Ryan", "Jacob", "Nicholas", "Jonathan", "Benjamin", "Samuel", "Alexander", "Ethan", "Noah",
			"Liam", "Mason", "Logan", "Elijah", "Lucas", "Owen", "Caleb", "Isaiah", "Wyatt", "Henry", "Julian"},
		femaleNow: []string{"Jessica", "Ashley", "Sarah", "Emily", "Amanda", "Stephanie", "Jennifer", "Nicole",
			"Megan", "Lauren", "Rachel", "Hannah", "Olivia", "Emma", "Sophia", "Isabella", "Charlotte", "Amelia",
			"Harper", "Evelyn", "Abigail", "Madison", "Chloe", "Natalie", "Zoe", "Aaliyah", "Brianna", "Savannah"},
		lang: langEnglish,
	},
	{
		weight: 19,
		family: []string{"García", "Rodríguez", "Martínez", "Hernández", "López", "González", "Pérez", "Sánchez",
			"Ramírez", "Torres", "Flores", "Rivera", "Gómez", "Díaz", "Morales", "Reyes", "Ortiz", "Gutiérrez",
			"Chávez", "Ramos", "Vargas", "Castillo", "Jiménez", "Moreno", "Romero", "Herrera", "Medina", "Aguilar",
			"Mendoza", "Delgado", "Castro", "Vásquez", "Salazar", "Contreras", "Guerrero", "Estrada", "Navarro"},
		male: []string{"José", "Luis", "Carlos", "Juan", "Miguel", "Jorge", "Francisco", "Antonio", "Javier",
			"Manuel", "Ricardo", "Roberto", "Fernando", "Eduardo", "Raúl", "Ramón", "Alfredo", "Enrique"},
		female: []string{"María", "Guadalupe", "Rosa", "Carmen", "Ana", "Teresa", "Elena", "Isabel", "Silvia",
			"Patricia", "Leticia", "Verónica", "Gloria", "Luz", "Martha", "Alicia", "Yolanda", "Dolores"},
		maleNow: []string{"Alejandro", "Diego", "Mateo", "Santiago", "Daniel", "Adrián", "Gabriel", "Andrés",
			"Emiliano", "Sebastián", "Ángel", "Jesús", "Eduardo", "Iván", "Julio", "Óscar", "Rafael", "Héctor"},
		femaleNow: []string{"Sofía", "Valentina", "Camila", "Isabella", "Lucía", "Gabriela", "Daniela", "Ximena",
			"Mariana", "Natalia", "Valeria", "Andrea", "Fernanda", "Paola", "Alejandra", "Jimena", "Renata"},
		lang:      langSpanish,
		langShare: 0.4,
	},
	{
		weight: 4,
		family: []string{"Chen", "Wang", "Zhang", "Huang", "Zhou", "Yang", "Zhao", "Liang", "Feng", "Deng",
			"Cheng", "Guo", "Tang", "Xiao", "Luo", "Song", "Jiang", "Wong", "Leung", "Chan"},
		male:      []string{"Wei", "Jian", "Ming", "Hao", "Jun", "Kevin", "David", "Eric", "Peter", "Tony", "Henry"},
		female:    []string{"Mei", "Lan", "Xiu", "Ying", "Grace", "Helen", "Amy", "Jenny", "Alice"},
		maleNow:   []string{"Kevin", "Eric", "Jason", "Brian", "Ryan", "Andrew", "Justin", "Daniel", "Ethan", "Lucas"},
		femaleNow: []string{"Emily", "Grace", "Michelle", "Jessica", "Angela", "Vivian", "Chloe", "Olivia", "Lily"},
		midMale:   []string{"Wei", "Jian", "Ming", "Hao", "Zhi", "Yong", "Jie"},
		midFemale: []string{"Mei", "Lan", "Xiu", "Ying", "Hui", "Jing", "Yan"},
		lang:      langChinese,
		langShare: 0.3,
	},
	{
		weight:    3,
		family:    []string{"Nguyen", "Tran", "Pham", "Hoang", "Phan", "Huynh", "Dang", "Truong", "Duong", "Vuong", "Trinh"},
		male:      []string{"Minh", "Tuan", "Hung", "Duc", "Long", "Quang", "Thanh", "Dung", "Khanh", "Son"},
		female:    []string{"Linh", "Thao", "Lan", "Huong", "Mai", "Trang", "Hoa", "Ngoc", "Phuong", "Hanh"},
		maleNow:   []string{"Minh", "Tuan", "Khoa", "Bao", "Huy", "Kevin", "Vincent", "Andrew", "Danny"},
		femaleNow: []string{"Linh", "Vy", "Anh", "Thuy", "Tiffany", "Vivian", "Michelle", "Jenny", "Kim"},
		midMale:   []string{"Van", "Duc", "Minh", "Quoc"},
		midFemale: []string{"Thi", "Ngoc", "Thu", "Kim"},
		lang:      langVietnamese,
		langShare: 0.45,
	},
	{
		weight: 3,
		family: []string{"Patel", "Shah", "Singh", "Kumar", "Gupta", "Sharma", "Reddy", "Desai", "Mehta", "Joshi",
			"Iyer", "Chopra", "Malhotra", "Kapoor", "Agarwal", "Bhatt", "Nair", "Menon"},
		male:      []string{"Rajesh", "Sanjay", "Anil", "Suresh", "Vijay", "Ramesh", "Ashok", "Deepak", "Prakash"},
		female:    []string{"Sunita", "Anita", "Geeta", "Kavita", "Meena", "Lakshmi", "Usha", "Rekha", "Asha"},
		maleNow:   []string{"Rahul", "Arjun", "Vikram", "Rohan", "Aditya", "Karan", "Nikhil", "Aarav", "Dev"},
		femaleNow: []string{"Priya", "Anjali", "Neha", "Pooja", "Kavya", "Divya", "Shreya", "Ananya", "Riya"},
		lang:      langHindi,
		langShare: 0.15,
	},
}

// nicknames maps a given name to its usual short form.
var nicknames = map[string]string{
	"James": "Jim", "Robert": "Bob", "William": "Bill", "Richard": "Rick", "Joseph": "Joe", "Thomas": "Tom",
	"Charles": "Chuck", "Daniel": "Dan", "Michael": "Mike", "Kenneth": "Ken", "Steven": "Steve",
	"Edward": "Ed", "Ronald": "Ron", "Gerald": "Jerry", "Douglas": "Doug", "Eugene": "Gene",
	"Christopher": "Chris", "Matthew": "Matt", "Joshua": "Josh", "Andrew": "Andy", "Nicholas": "Nick",
	"Jonathan": "Jon", "Benjamin": "Ben", "Samuel": "Sam", "Alexander": "Alex",
	"Elizabeth": "Liz", "Margaret": "Peggy", "Patricia": "Patty", "Susan": "Sue", "Barbara": "Barb",
	"Deborah": "Debbie", "Judith": "Judy", "Kathleen": "Kathy", "Pamela": "Pam", "Cynthia": "Cindy",
	"Jennifer": "Jen", "Stephanie": "Steph", "Jessica": "Jess", "Abigail": "Abby", "Isabella": "Bella",
	"Francisco": "Paco", "José": "Pepe", "Guadalupe": "Lupe", "Alejandro": "Alex", "Dolores": "Lola",
	"Alejandra": "Ale", "Sebastián": "Sebas", "Rajesh": "Raj", "Vikram": "Vik",
}

// state is a US state with the cities the generator places people in.
type state struct {
	code   string
	fips   string // the driver's licence OID arc (2.16.840.1.113883.4.3.<fips>)
	cities []city
}

type city struct {
	name string
	zip  string // first three digits
	area string // telephone area code
}

var states = []state{
	{"MA", "25", []city{{"Boston", "021", "617"}, {"Cambridge", "021", "617"}, {"Worcester", "016", "508"},
		{"Springfield", "011", "413"}, {"Lowell", "018", "978"}, {"Quincy", "021", "617"}, {"Brockton", "023", "508"},
		{"Framingham", "017", "508"}, {"Somerville", "021", "617"}, {"Newton", "024", "617"}}},
	{"OH", "39", []city{{"Columbus", "432", "614"}, {"Cleveland", "441", "216"}, {"Cincinnati", "452", "513"},
		{"Toledo", "436", "419"}, {"Akron", "443", "330"}, {"Dayton", "454", "937"}, {"Parma", "441", "440"}}},
	{"TX", "48", []city{{"Houston", "770", "713"}, {"Dallas", "752", "214"}, {"Austin", "787", "512"},
		{"San Antonio", "782", "210"}, {"Fort Worth", "761", "817"}, {"El Paso", "799", "915"}, {"Laredo", "780", "956"}}},
	{"CA", "06", []city{{"Los Angeles", "900", "213"}, {"San Diego", "921", "619"}, {"San Jose", "951", "408"},
		{"Sacramento", "958", "916"}, {"Fresno", "937", "559"}, {"Oakland", "946", "510"}, {"Long Beach", "908", "562"}}},
	{"WA", "53", []city{{"Seattle", "981", "206"}, {"Spokane", "992", "509"}, {"Tacoma", "984", "253"},
		{"Bellevue", "980", "425"}, {"Everett", "982", "425"}, {"Vancouver", "986", "360"}}},
}

var streetNames = []string{"Maple", "Oak", "Cedar", "Pine", "Elm", "Washington", "Lake", "Hill", "Park", "Main",
	"Church", "High", "Walnut", "Chestnut", "Spring", "Ridge", "Meadow", "Sunset", "Highland", "Franklin",
	"Jefferson", "Lincoln", "Madison", "Willow", "Birch", "Forest", "River", "Mill", "Orchard", "Cherry",
	"Magnolia", "Dogwood", "Prospect", "Pleasant", "Summit", "Valley", "Harbor", "Bayview", "Juniper", "Aspen"}

var streetKinds = []string{"Street", "Avenue", "Road", "Lane", "Drive", "Court", "Way", "Boulevard", "Place", "Terrace"}

var mailDomains = []string{"example.com", "example.org", "example.net"}
