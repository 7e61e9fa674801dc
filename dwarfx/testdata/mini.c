/* Source of the mini-*.elf test images (see gen-mini.sh). */
typedef unsigned long long u64;
typedef unsigned int u32;
typedef signed char s8;

enum color { RED, GREEN = 5, BLUE = -2 };

struct list_head { struct list_head *next, *prev; };

struct opaque; /* never defined */

struct bits {
	unsigned int a : 3;
	signed int b : 5;
	unsigned int c : 1;
	unsigned long long wide : 40;
	unsigned int d : 7;
	int e : 2;
};

struct item {
	int id;
	char name[12];
	union {
		u64 key;
		struct { u32 lo, hi; };
	};
	struct bits flags;
	struct list_head node;
	enum color color;
	struct item *next;
	struct opaque *priv;
	s8 small;
	short arr[2][3];
	const char *label;
};

struct item items[3] = {
	{ .id = 7, .name = "seven", .key = 0x1122334455667788ULL,
	  .flags = { .a = 5, .b = -3, .c = 1, .wide = 0xABCDEF0123ULL, .d = 100, .e = -1 },
	  .color = BLUE, .next = &items[1], .small = -5,
	  .arr = { { 1, 2, 3 }, { 4, 5, -6 } }, .label = "hello" },
	{ .id = 8, .name = "eight", .lo = 1, .hi = 2, .color = GREEN, .next = &items[2] },
	{ .id = 9, .name = "nine", .next = 0 },
};

struct item *head = &items[0];
static int counter = 42;
extern int answer;
int answer = 0x2a2a;
const char banner[] = "mini banner";
unsigned long zeroed[4];

int get_counter(int x) { return counter + x + items[x].id; }
void bump(void) { counter++; }
static int helper(struct item *it) { return it->id * 2; }
int use_helper(void) { return helper(head) + answer; }

void _start(void) { for (;;) ; }
